"""Production settings pass Django's deployment checks; logs are structured JSON."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_check_deploy_is_clean_with_production_settings():
    # The browser tests allow async-unsafe ORM calls in this process; a deployment never does.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {
        **inherited,
        "PAIRRATE_DEBUG": "0",
        "PAIRRATE_SECRET_KEY": "x" * 60 + "-deploy-test-key-0123456789",
        "PAIRRATE_ALLOWED_HOSTS": "pairrate.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "PAIRRATE_SECRET_KEY"}
    env["PAIRRATE_DEBUG"] = "0"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "PAIRRATE_SECRET_KEY must be set" in result.stderr


def test_json_log_lines_keep_extra_fields():
    from pairrate.logging import JsonFormatter

    record = logging.makeLogRecord(
        {"name": "annotation", "levelname": "INFO", "msg": "import %s", "args": ("done",), "counts": {"items": 4}}
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "import done" and line["counts"] == {"items": 4} and line["level"] == "INFO"
