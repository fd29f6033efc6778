"""The container files: docker compose validates them, and they say what the
deployment needs (every role, beats that stand by, workers that scale, ping and outlast
their longest task, the same command lines in compose and Kubernetes)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from mysite.celery import app
from tests.helpers.deploy import DOCKER, compose_services

WORKERS = {  # compose service -> (Kubernetes Deployment, queues)
    "worker-default": ("worker-default", {"default"}),
    "worker-images": ("worker-images", {"images", "reports"}),
    "worker-io": ("worker-io", {"notifications"}),
    "worker-payments": ("worker-payments", {"payments"}),
}


def kubernetes() -> dict[tuple[str, str], dict]:
    """Every manifest under docker/k8s by (kind, name)."""
    found = {}
    for path in sorted((DOCKER / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] != "Kustomization":
                found[doc["kind"], doc["metadata"]["name"]] = doc
    return found


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def seconds(duration: str) -> int:
    """A compose duration (``90s``, ``11m``, ``1m30s``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert duration, "no duration"
    assert parts, f"not a duration: {duration!r}"
    return sum(int(n) * units[u] for n, u in zip(parts.groups(), "hms", strict=True) if n)


def longest_time_limit(queues: set[str]) -> int:
    """The longest hard time limit among the project's tasks routed to ``queues``."""
    app.loader.import_default_modules()  # every app's tasks.py, as a worker does at start
    routes = settings.CELERY_TASK_ROUTES
    limits = []
    for name, task in app.tasks.items():
        if name.startswith("celery."):
            continue
        queue = next(
            (route["queue"] for pattern, route in routes.items() if name.startswith(pattern[:-1])),
            settings.CELERY_TASK_DEFAULT_QUEUE,
        )
        if queue in queues:
            limits.append(task.time_limit or settings.CELERY_TASK_TIME_LIMIT)
    assert limits, f"no task goes to {queues}"
    return max(limits)


def test_docker_compose_validates_the_file(tmp_path):
    """``docker-compose config`` (Compose 1.29 from Debian, installed by .ci/run;
    the Docker CLI here has no compose plugin and there is no engine)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is not installed (apt-get install docker-compose)")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    # env_file: .env must exist; the example stands in for it, in a project folder of its own
    (tmp_path / ".env").write_text((DOCKER / ".env.example").read_text())

    done = docker_compose(binary, tmp_path, "config", "--services")

    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {
        "postgres", "redis", "s3", "migrate", "web", "beat", "flower", *WORKERS,
    }  # fmt: skip

    # and a missing secret is named, not silently empty
    (tmp_path / ".env").write_text("SECRET_KEY=x\nFLOWER_BASIC_AUTH=a:b\n")
    done = docker_compose(binary, tmp_path, "config", "-q")
    assert done.returncode != 0
    assert "set POSTGRES_PASSWORD in docker/.env" in done.stderr


def docker_compose(binary: str, project: Path, *args: str) -> subprocess.CompletedProcess:
    """``docker-compose`` on our file, with ``project`` as the folder of its .env."""
    own = {"POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "FLOWER_BASIC_AUTH"}
    own |= {name for name in os.environ if name.startswith("AWS_")}  # CI's own bucket
    return subprocess.run(  # noqa: S603  (a fixed command)
        [
            binary,
            "-f",
            str(DOCKER / "docker-compose.yml"),
            "--project-directory",
            str(project),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={key: value for key, value in os.environ.items() if key not in own},
    )


def test_every_role_is_there_once_and_waits_for_the_migration():
    services = compose_services()

    beats = [name for name, s in services.items() if " beat" in " ".join(s.get("command", []))]
    assert beats == ["beat"]
    assert option(services["beat"]["command"], "-S") == settings.CELERY_BEAT_SCHEDULER
    for name in ("web", "beat", "flower", *WORKERS):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "s3": {"condition": "service_healthy"},
    }
    for backing in ("postgres", "redis", "s3"):
        assert {"healthcheck", "volumes"} <= services[backing].keys()
    assert "storage_check --create-bucket" in services["migrate"]["command"][-1]
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]


@pytest.mark.parametrize("service", WORKERS)
def test_a_worker_scales_pings_itself_and_outlasts_its_longest_task(service):
    worker = compose_services()[service]
    command = worker["command"]
    _, queues = WORKERS[service]

    assert command[:4] == ["celery", "-A", "mysite", "worker"]
    assert set(option(command, "-Q").split(",")) == queues
    node = option(command, "-n")
    assert node.endswith("@%h")  # one name per container: --scale gives each its own
    assert "container_name" not in worker
    assert "ports" not in worker
    assert f"-d {node.split('@')[0]}@$$HOSTNAME" in worker["healthcheck"]["test"][1]
    assert seconds(worker["stop_grace_period"]) > longest_time_limit(queues)
    if queues & {"payments", "images"}:
        assert option(command, "--prefetch-multiplier") == "1"


def test_kubernetes_runs_the_same_command_lines():
    services, manifests = compose_services(), kubernetes()

    def container(kind: str, name: str) -> dict:
        return manifests[kind, name]["spec"]["template"]["spec"]["containers"][0]

    for service, (deployment, queues) in WORKERS.items():
        spec = manifests["Deployment", deployment]["spec"]["template"]["spec"]
        assert spec["containers"][0]["command"] == services[service]["command"]
        assert spec["terminationGracePeriodSeconds"] > longest_time_limit(queues)
        assert {"readinessProbe", "livenessProbe"} <= spec["containers"][0].keys()
    assert container("Deployment", "web")["command"] == services["web"]["command"]
    assert container("Deployment", "beat")["command"] == services["beat"]["command"]
    assert container("Job", "mysite-migrate")["command"] == services["migrate"]["command"]
    web = container("Deployment", "web")
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz/"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz/"


def test_no_process_of_the_site_needs_a_shared_disk():
    """Media go to the bucket: only the backing services keep volumes."""
    services, manifests = compose_services(), kubernetes()

    with_volumes = sorted(name for name, service in services.items() if "volumes" in service)
    assert with_volumes == ["postgres", "redis", "s3"]
    app = services["web"]["environment"]
    assert app["AWS_S3_ENDPOINT_URL"].endswith("http://s3:8333}")
    assert "AWS_STORAGE_BUCKET_NAME" in app
    for (kind, name), manifest in manifests.items():
        if kind in {"Deployment", "Job"}:
            volumes = manifest["spec"]["template"]["spec"].get("volumes", [])
            assert all("emptyDir" in volume for volume in volumes), name
    config = manifests["ConfigMap", "mysite-config"]["data"]
    secret = manifests["Secret", "mysite-secrets"]["stringData"]
    assert {"AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_S3_REGION_NAME"} <= config.keys()
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= secret.keys()


def test_kubernetes_runs_two_beats_and_scales_the_image_workers():
    manifests = kubernetes()

    # two beats (one leads, one stands by: mysite/beat.py), a rollout that surges
    beat = manifests["Deployment", "beat"]["spec"]
    assert beat["replicas"] == 2
    assert beat["strategy"]["type"] == "RollingUpdate"
    probes = beat["template"]["spec"]["containers"][0]
    assert probes["readinessProbe"]["exec"]["command"] == ["python", "manage.py", "beat_status"]
    assert probes["livenessProbe"]["exec"]["command"] == [
        "python", "manage.py", "beat_status", "--live",
    ]  # fmt: skip
    assert compose_services()["beat"]["healthcheck"]["test"] == [
        "CMD-SHELL", "python manage.py beat_status",
    ]  # fmt: skip
    hpa = manifests["HorizontalPodAutoscaler", "worker-images"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "worker-images"
    assert ("Deployment", "worker-images") in manifests
    assert ("ConfigMap", "mysite-config") in manifests
    assert ("Secret", "mysite-secrets") in manifests
    listed = yaml.safe_load((DOCKER / "k8s" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in (DOCKER / "k8s").glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_the_image_runs_as_a_user_with_the_dependencies_in_their_own_layer():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)", dockerfile, re.MULTILINE)

    assert [image for image, _ in stages] == ["python:3.11-slim", "python:3.11-slim"]
    assert dockerfile.index("COPY requirements.txt") < dockerfile.index("pip install -r")
    assert dockerfile.index("pip install -r") < dockerfile.index("COPY --chown=app:app . /app")
    assert re.search(r"^USER app$", dockerfile, re.MULTILINE)
    assert "collectstatic --noinput" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert 'CMD ["gunicorn", "--config", "python:mysite.gunicorn", "mysite.wsgi"]' in dockerfile
    assert compose_services()["web"]["command"] == [
        "gunicorn", "--config", "python:mysite.gunicorn", "mysite.wsgi",
    ]  # fmt: skip
