"""Fault tests own their services: a Redis (and, where needed, a PostgreSQL cluster) on
free ports in temp folders, stopped and restarted by the tests; never the shared ones.

Workers here run with the production visibility timeout (an hour), so a lost or orphaned
message can only come back through the recovery code under test (annotation.sweeper),
with heartbeats and sweeps shortened to seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import WorkerProcess
from tests.pipeline.conftest import _task_signature, _wait_until  # noqa: F401
from tests.pipeline.conftest import dataset_bundle, imported, make_project  # noqa: F401 (fixtures)
from tests.postgres_cluster import PostgresCluster, free_port

FAST = {
    "PAIRRATE_HEARTBEAT_INTERVAL": "0.5",
    "PAIRRATE_STALL_TIMEOUT": "3",
    "PAIRRATE_SWEEP_INTERVAL": "1",
    "PAIRRATE_STATE_WRITE_ATTEMPTS": "10",
}


class RedisServer:
    """redis-server without persistence: a restart loses every queued message."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.process = folder, free_port(), None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=open(self.folder / "redis.log", "a"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # no shutdown save: whatever was queued is gone
            self.process.wait()

    def restart(self, down_seconds: float = 0.5) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()
        # Fresh pools in this (the test's) process for the tests that follow; its own publishes
        # reconnect by themselves, but the control pings that start workers may not.
        use_broker(self.url)


def use_broker(url: str) -> None:
    """Point this process's Celery app (the one that dispatches) at `url`."""
    from tasks.celery_app import app

    from kombu import pools

    os.environ["CELERY_BROKER_URL"] = url  # Celery reads it before its own setting
    app.conf.broker_url = url
    pools.reset()  # kombu's global producer and connection pools, stale after a broker restart
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    from django.conf import settings

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    use_broker(server.url)
    yield server
    use_broker(settings.CELERY_BROKER_URL)
    server.stop()


@pytest.fixture
def fault_env(worker_env, broker, settings) -> dict:
    for key, value in FAST.items():
        setattr(settings, key, float(value) if "." in value or key != "PAIRRATE_STATE_WRITE_ATTEMPTS" else int(value))
    env = {
        **worker_env,
        **FAST,
        "CELERY_BROKER_URL": broker.url,
        # the production hour: only the sweeper can bring back a lost or orphaned message
        "PAIRRATE_BROKER_VISIBILITY_TIMEOUT": "3600",
        "PAIRRATE_BROKER_RESTORE_INTERVAL": "10",
        "PAIRRATE_BROKER_RESTORE_THROTTLE": "10",
    }
    settings.MEDIA_ROOT = Path(env["PAIRRATE_MEDIA_ROOT"])
    return env


@pytest.fixture
def start_worker(fault_env, worker_env, tmp_path):
    """start_worker(name, **env) -> a running worker on the test's broker; all stopped at the end."""
    started = []

    def start(name: str = "fault", **extra) -> WorkerProcess:
        env = {**fault_env, "DATABASE_URL": worker_env["DATABASE_URL"], **extra}  # on_postgres may repoint it
        worker = WorkerProcess(env, tmp_path / f"{name}.log", f"{name}-{os.getpid()}")
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def running_worker(fault_env):
    """The pipeline fixtures (imported, make_project) import into this test's worker media."""
    return fault_env


def wait_state(project, states, timeout: float = 120):
    def settled():
        project.refresh_from_db()
        return project.state in states

    _wait_until(settled, timeout, 0.1, f"project {project.name} to reach {states}")
    return project


def wait_stage(project, name: str, state: str = "running", timeout: float = 60):
    def reached():
        return project.stages.filter(name=name, state=state).exists()

    _wait_until(reached, timeout, 0.05, f"stage {name} to be {state}")


def history_events(project) -> dict[str, list[str]]:
    return {s.name: [e["event"] for e in s.history] for s in project.stages.order_by("order")}


@pytest.fixture
def task_signature():
    return _task_signature


@pytest.fixture(scope="module")
def postgres(django_db_setup, django_db_blocker):
    from django.db import connection

    import tempfile

    # Not under pytest's temp folder: the postgres user must be able to reach it.
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="pairrate-faults-pg-"))).init()
    try:
        with django_db_blocker.unblock():
            cluster.copy_database(connection.settings_dict, "pairrate_faults")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)


@pytest.fixture
def on_postgres(transactional_db, postgres, worker_env, settings):
    """This test (and the workers it starts, via fault_env) talks to the throwaway cluster."""
    from django.db import connection

    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(postgres.port), NAME="pairrate_faults")
    worker_env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{postgres.port}/pairrate_faults"
    from django.core.management import call_command

    try:
        yield postgres
        connection.close()  # opened before a restart, perhaps
        call_command("flush", interactive=False, verbosity=0)  # pytest-django flushes only its own database
    finally:
        connection.close()
        connection.settings_dict.clear()
    connection.settings_dict.update(saved)
    worker_env["DATABASE_URL"] = f"postgres://{saved['USER']}@{saved['HOST']}:{saved['PORT']}/{saved['NAME']}"
