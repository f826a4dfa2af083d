"""docker-compose.yml cannot run here (no Docker engine): check its shape and commands."""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_health_checks(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "objectstore", "web", "worker", "gpu-worker"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_app_services_share_nothing_but_database_broker_and_bucket(compose):
    from annotation.storage.config import parse_storage_url

    data_volumes = set()
    for name in ("web", "worker", "gpu-worker"):
        service = compose["services"][name]
        data = [v for v in service["volumes"] if v.endswith(":/data")]
        assert len(data) == 1, f"{name} needs its own data volume"
        data_volumes.add(data[0].split(":")[0])
        for condition in ("postgres", "redis", "objectstore"):
            assert service["depends_on"][condition]["condition"] == "service_healthy"
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:")
        assert parse_storage_url(env["PAIRRATE_STORAGE_URL"])[:2] == ("s3", "pairrate")
        assert env["PAIRRATE_S3_ENDPOINT_URL"] == "http://objectstore:9000"
        assert "AWS_SECRET_ACCESS_KEY" in env and "@" not in env["PAIRRATE_STORAGE_URL"]
    assert len(data_volumes) == 3 and data_volumes <= set(compose["volumes"])


def test_every_service_restarts_after_a_crash(compose):
    """A worker that exits (broker restart, out of memory) must come back without an operator."""
    for name, service in compose["services"].items():
        assert service.get("restart") in {"unless-stopped", "always", "on-failure"}, f"{name} stays down after a crash"


def _queues(command: list[str]) -> str:
    return command[command.index("-Q") + 1]


def test_workers_consume_their_queues(compose):
    from tasks.celery_app import app

    declared = {queue.name for queue in app.conf.task_queues}
    worker = compose["services"]["worker"]["command"]
    gpu = compose["services"]["gpu-worker"]["command"]
    assert worker[:3] == ["celery", "-A", "tasks"] and _queues(worker) == "cpu"
    assert gpu[:3] == ["celery", "-A", "tasks"] and _queues(gpu) == "gpu"
    assert gpu[gpu.index("--concurrency") + 1] == "1"
    assert {"cpu", "gpu"} <= declared
    reservation = compose["services"]["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert reservation["driver"] == "nvidia" and "gpu" in reservation["capabilities"]


def test_commands_name_code_that_exists(compose):
    """gunicorn's WSGI module, the Celery app and the health URL all resolve in this repo."""
    web = shlex.split(compose["services"]["web"]["command"][-1])
    gunicorn_target = web[web.index("gunicorn") + 1]
    module, attribute = gunicorn_target.split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert "migrate" in web
    from django.urls import resolve

    assert resolve("/healthz").url_name == "healthz"
    celery_app = importlib.import_module("tasks").celery_app
    assert celery_app.main == "pairrate"


def test_routing_is_declared_once_in_celery_config():
    from tasks.celery_app import app

    assert app.conf.task_acks_late is True
    assert app.amqp.router.route({}, "tasks.gpu.device_info")["queue"].name == "gpu"
    assert app.amqp.router.route({}, "tasks.cpu.ping")["queue"].name == "cpu"


def test_one_gunicorn_configuration(compose):
    """The image, compose's web service and the load benchmark start gunicorn from the same
    config file (docs/deploy.md, "Web server"), and that file loads."""
    import json
    import re
    import runpy

    web = shlex.split(compose["services"]["web"]["command"][-1])
    image = json.loads(re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M).group(1))
    bench = (ROOT / "bench" / "bench_annotation_load.py").read_text()
    for command in (web[web.index("gunicorn") :], image):
        assert command[command.index("--config") + 1] == "pairrate/gunicorn_conf.py", command
        assert not {"--workers", "-w", "--bind", "-b"} & set(command), command
    assert re.search(r'"--config",\s*"pairrate/gunicorn_conf.py"', bench)
    settings = runpy.run_path(str(ROOT / "pairrate" / "gunicorn_conf.py"))
    assert settings["worker_class"] == "sync" and settings["workers"] >= 3 and settings["bind"] == "0.0.0.0:8000"
