"""`./run demo` end to end on its own paths: a fresh SQLite database, no broker (Celery runs
in-process), `manage.py migrate` then a reduced `manage.py demo` (no AudioCaps captions, one
project) in subprocesses, then an annotator logs in through the API and gets a task.
A migration or stage that fails only on SQLite fails here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LOGIN_AND_CLAIM = """
import json
from django.test import Client
from annotation.models import Project
client = Client()
login = client.post("/api/auth/token/", {"username": "annotator1", "password": "annotator-demo"},
                    content_type="application/json")
token = login.json()["token"]
project = Project.objects.order_by("pk").first()
task = client.post(f"/api/projects/{project.pk}/assignments/next/", HTTP_AUTHORIZATION=f"Token {token}")
print(json.dumps({"login": login.status_code, "next": task.status_code, "body": task.json()}))
"""


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_demo_on_sqlite_without_a_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(PAIRRATE_VAR_DIR=str(tmp_path), PAIRRATE_DEBUG="1")
    manage(env, "migrate", "--noinput", "-v", "0")
    assert (tmp_path / "demo.sqlite3").is_file()
    demo = manage(env, "demo", "--no-input", "--audiocaps", "0", "--projects", "1")

    lines = demo.stdout.splitlines()
    assert "project 'Demo: captions and photos (3 annotators)': ready, 60 tasks" in lines, demo.stdout
    # Quiet: one line per step and stage, library logging only in the file.
    assert len(lines) < 30 and demo.stderr.strip() == "", demo.stdout + demo.stderr
    assert sum("stage" in line for line in lines) >= 5
    for noise in ("faiss.loader", "celery.app.trace", "kombu", "Loading weights", "it/s]"):
        assert noise not in demo.stdout + demo.stderr
    log = (tmp_path / "demo.log").read_text()
    assert "faiss.loader" in log and "celery.app.trace" in log and "stage finished" in log

    claim = manage(env, "shell", "-c", LOGIN_AND_CLAIM)
    result = json.loads(claim.stdout.strip().splitlines()[-1])
    assert (result["login"], result["next"]) == (200, 200), result
    assert result["body"]["caption"]["text"] and result["body"]["candidates"]
