"""An unreachable object store stops the web server, the workers and manage.py at start-up
with one clear line naming the endpoint and bucket, never the credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "startup-secret-must-not-show"


@pytest.fixture
def unreachable_env(tmp_path):
    env = dict(os.environ)
    env.update(
        {
            "PAIRRATE_STORAGE_URL": "s3://media-bucket/pairrate",
            "PAIRRATE_S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "startup-key",
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "PAIRRATE_VAR_DIR": str(tmp_path),
            "PAIRRATE_STORAGE_CACHE_DIR": str(tmp_path / "cache"),
        }
    )
    return env


def _assert_clear(output: str):
    assert "s3://media-bucket/pairrate at http://127.0.0.1:9 is unreachable" in output, output[-2000:]
    assert "PAIRRATE_S3_ENDPOINT_URL" in output
    assert SECRET not in output and "startup-key" not in output


def test_web_server_refuses_to_start(unreachable_env):
    run = subprocess.run(
        [sys.executable, "-c", "import pairrate.wsgi"],
        cwd=ROOT,
        env=unreachable_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    _assert_clear(run.stderr)


def test_manage_py_check_reports_it(unreachable_env):
    run = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=unreachable_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0 and "pairrate.E001" in run.stderr
    _assert_clear(run.stderr)


def test_worker_exits_instead_of_failing_every_task(unreachable_env):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tasks",
            "worker",
            "-Q",
            "cpu",
            "--pool",
            "solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=unreachable_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    _assert_clear(run.stdout + run.stderr)
