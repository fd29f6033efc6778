"""What the deployment tests share: the files under docker/."""

import functools
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


@functools.cache
def compose_services() -> dict:
    """The services of docker/docker-compose.yml, by name (read once)."""
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())["services"]
