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


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker process on Redis, consuming both queues, using the test database.

    Tests using it need `@pytest.mark.django_db(transaction=True)` so their rows are
    committed and visible to the worker.
    """
    import signal
    import subprocess
    import sys
    import time

    from django.conf import settings as django_settings
    from django.db import connection

    from tasks.celery_app import app

    media = tmp_path_factory.mktemp("worker-media")
    database = connection.settings_dict
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "PAIRRATE_MEDIA_ROOT": str(media),
        "PAIRRATE_IMPORT_ROOTS": "/tmp",
        "PAIRRATE_UPLOAD_ROOT": str(tmp_path_factory.mktemp("worker-uploads")),
    })
    app.control.purge()
    log = open(tmp_path_factory.mktemp("worker-log") / "worker.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-Q", "cpu,gpu", "--pool", "solo",
         "--loglevel", "INFO", "--hostname", f"test-{os.getpid()}@%h", "--without-heartbeat",
         "--without-gossip", "--without-mingle"],
        cwd=Path(__file__).resolve().parent.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"celery worker exited:\n{log.read()}")
        if app.control.ping(timeout=1.0):
            break
    else:
        process.kill()
        raise RuntimeError("celery worker did not answer pings within 60 s")
    worker = type("Worker", (), {"process": process, "media_root": media, "log": log, "env": env})
    yield worker
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
