"""Shared fixtures. Tests run against real PostgreSQL and Redis (see ./run test)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pairrate")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def media_root(tmp_path_factory, settings) -> Path:
    """Each test gets its own empty media storage and upload/import folders."""
    root = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = root
    uploads = tmp_path_factory.mktemp("uploads")
    settings.PAIRRATE_UPLOAD_ROOT = uploads
    settings.PAIRRATE_IMPORT_ROOTS = [Path("/tmp"), uploads]
    return root


class WorkerProcess:
    """A real `celery -A tasks worker` process on Redis, consuming both queues."""

    def __init__(self, env: dict, log_path: Path, name: str):
        self.env, self.log_path, self.name = env, log_path, name
        self.process = None

    def wait_until_idle(self, timeout: float = 30) -> None:
        """Until the worker reports no task running or reserved (a solo-pool worker
        answers only between tasks), twice in a row, or `timeout` seconds."""
        import socket
        import time

        from tasks.celery_app import app

        inspect = app.control.inspect(destination=[f"{self.name}@{socket.gethostname()}"], timeout=1)
        deadline, quiet = time.monotonic() + timeout, 0
        while time.monotonic() < deadline and quiet < 2:
            active, reserved = inspect.active() or {}, inspect.reserved() or {}
            idle = bool(active) and not any(active.values()) and not any(reserved.values())
            quiet = quiet + 1 if idle else 0
            time.sleep(0.05)

    def start(self, timeout: float = 60) -> "WorkerProcess":
        import subprocess
        import sys
        import time

        from tasks.celery_app import app

        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tasks",
                "worker",
                "-Q",
                "cpu,gpu",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--hostname",
                f"{self.name}@%h",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{self.log_path.read_text()[-3000:]}")
            replies = app.control.ping(timeout=0.5)
            if any(self.name in name for reply in replies for name in reply):
                return self
        self.kill()
        raise RuntimeError("celery worker did not answer pings within the timeout")

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task without acknowledging it."""
        import signal

        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        import signal
        import subprocess

        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def worker_env(django_db_setup, tmp_path_factory) -> dict:
    """Environment for worker processes: the test database, the broker, a shared media root."""
    from django.conf import settings as django_settings
    from django.db import connection

    database = connection.settings_dict
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
            "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
            "PAIRRATE_MEDIA_ROOT": str(tmp_path_factory.mktemp("worker-media")),
            "PAIRRATE_IMPORT_ROOTS": "/tmp",
            "PAIRRATE_UPLOAD_ROOT": str(tmp_path_factory.mktemp("worker-uploads")),
            # A killed worker's task comes back within seconds, not the production hour.
            "PAIRRATE_BROKER_VISIBILITY_TIMEOUT": "4",
            "PAIRRATE_BROKER_RESTORE_INTERVAL": "1",
            "PAIRRATE_BROKER_RESTORE_THROTTLE": "1",
            # As in production, a stall is declared well before the broker redelivers (3 s < 4 s):
            # a redelivered message then finds the killed attempt's heartbeat stale and takes over.
            "PAIRRATE_HEARTBEAT_INTERVAL": "0.5",
            "PAIRRATE_STALL_TIMEOUT": "3",
            # Encoder checkpoints the tests build under /tmp; small embed parts (tests/embedding).
            "PAIRRATE_ENCODER_ROOTS": "/tmp",
            "PAIRRATE_EMBED_PART_ROWS": "8",
            "PAIRRATE_EMBED_BATCH": "4",
            # Screening in parts of 4 items: small test datasets still fan out (annotation.screening).
            "PAIRRATE_SCREEN_PART_ITEMS": "4",
        }
    )
    return env


@pytest.fixture(scope="session")
def celery_worker(worker_env, tmp_path_factory):
    """One shared worker for the session (restarted if a test stopped it).

    Tests using it need `@pytest.mark.django_db(transaction=True)` so their rows are
    committed and visible to the worker, and must write media under its media root.
    """
    from tasks.celery_app import app

    app.control.purge()
    worker = WorkerProcess(worker_env, tmp_path_factory.mktemp("worker-log") / "worker.log", f"test-{os.getpid()}")
    worker.media_root = Path(worker_env["PAIRRATE_MEDIA_ROOT"])
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def running_worker(transactional_db, celery_worker, settings):
    """The shared worker, running, with this test's media storage pointed at its own.
    Afterwards it waits for the worker to finish what the test set off (tasks that an
    import or a launch chains on): the database flush between tests would otherwise
    deadlock with a task's transaction."""
    if celery_worker.process.poll() is not None:
        celery_worker.start()
    settings.MEDIA_ROOT = celery_worker.media_root
    yield celery_worker
    if celery_worker.process.poll() is None:
        celery_worker.wait_until_idle()


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """The shared SeaweedFS S3 endpoint (tests/objectstore.py)."""
    from tests.objectstore import shared_endpoint

    return shared_endpoint()


@pytest.fixture(scope="session")
def s3_bucket(s3_endpoint) -> str:
    """One bucket for the session's tests; each test has its own prefix in it."""
    from tests.objectstore import empty_bucket, new_bucket

    bucket = new_bucket(s3_endpoint)
    yield bucket
    empty_bucket(s3_endpoint, bucket)


@pytest.fixture
def object_store(s3_endpoint, s3_bucket, settings, tmp_path_factory, monkeypatch):
    """This test's files on the object-store backend: its own prefix and cache folder.
    Returns the environment a worker or web process needs to use the same prefix
    (plus `bucket`, for tests that look at the objects)."""
    import uuid

    from tests.objectstore import empty_prefix, point_settings_at, storage_env

    prefix = f"t-{uuid.uuid4().hex[:12]}"
    env = storage_env(s3_endpoint, s3_bucket, prefix, tmp_path_factory.mktemp("storage-cache"))
    point_settings_at(settings, monkeypatch, env)
    yield dict(env, bucket=s3_bucket, prefix=prefix)
    empty_prefix(s3_endpoint, s3_bucket, prefix)
