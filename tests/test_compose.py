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
    assert set(services) == {"postgres", "redis", "web", "worker", "gpu-worker"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_app_services_share_the_media_volume_and_wait_for_databases(compose):
    assert "media" in compose["volumes"]
    for name in ("web", "worker", "gpu-worker"):
        service = compose["services"][name]
        assert "media:/data" in service["volumes"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["environment"]["CELERY_BROKER_URL"].startswith("redis://redis:")


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
    for command in (web[web.index("gunicorn"):], image):
        assert command[command.index("--config") + 1] == "pairrate/gunicorn_conf.py", command
        assert not {"--workers", "-w", "--bind", "-b"} & set(command), command
    assert '"--config", "pairrate/gunicorn_conf.py"' in bench
    settings = runpy.run_path(str(ROOT / "pairrate" / "gunicorn_conf.py"))
    assert settings["worker_class"] == "sync" and settings["workers"] >= 3 and settings["bind"] == "0.0.0.0:8000"
