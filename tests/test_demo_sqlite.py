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

# The cleaned-groups export of the demo's groups build, checked against the build itself:
# kept = the pairs at or above the threshold, and the files hold exactly those.
CLEANED = """
import json
import numpy as np
from annotation import storage
from annotation.groups import iter_chunks
from annotation.insights import cleaning, cleaning_runs
from annotation.models import GroupsBuild
build = GroupsBuild.objects.get(name="demo groups")
run = cleaning_runs.record(build)
manifest = run["manifest"]
out = {"state": run["state"], "modalities": {}, "files": {}}
for modality, m in manifest["modalities"].items():
    scores = np.concatenate([c.items[modality][1] for c in iter_chunks(build)])
    ids = np.concatenate([c.items[modality][0] for c in iter_chunks(build)])
    kept = (scores >= m["threshold"]) & (ids >= 0) if m["threshold"] is not None else np.zeros(scores.shape, bool)
    out["modalities"][modality] = {**{k: m[k] for k in ("threshold", "pairs_kept", "pairs_total", "captions_kept",
                                                        "captions_total", "cleaned", "project_name")},
                                   "expected_kept": int(kept.sum()), "expected_total": int((ids >= 0).sum()),
                                   "expected_captions_kept": int(kept.any(axis=1).sum()),
                                   "expected_per_rank": kept.sum(axis=0).tolist()}
for name, f in manifest["files"].items():
    path = storage.local_path(f"{cleaning.folder_name(build.pk)}/{name}")
    lines = sum(1 for _ in open(path, "rb")) - 1 if name.endswith(".csv") else None
    out["files"][name] = {"rows": f["rows"], "bytes": f["bytes"], "size": path.stat().st_size, "lines": lines}
print(json.dumps(out))
"""


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
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
    assert any(line.startswith("SIMULATED ratings: simulated1, simulated2, simulated3") for line in lines), demo.stdout
    assert any(line.startswith("groups 1 cleaned with the simulated ratings") for line in lines), demo.stdout
    # Quiet: one line per step and stage, library logging only in the file.
    assert len(lines) < 30 and demo.stderr.strip() == "", demo.stdout + demo.stderr
    assert sum("stage" in line for line in lines) >= 5
    for noise in ("faiss.loader", "celery.app.trace", "kombu", "Loading weights", "it/s]"):
        assert noise not in demo.stdout + demo.stderr
    log = (tmp_path / "demo.log").read_text()
    # (faiss logs only where the CPU search picks it: sampling.retrieval.cpu_gemm_backend)
    assert "celery.app.trace" in log and "stage finished" in log

    claim = manage(env, "shell", "-c", LOGIN_AND_CLAIM)
    result = json.loads(claim.stdout.strip().splitlines()[-1])
    assert (result["login"], result["next"]) == (200, 200), result
    assert result["body"]["caption"]["text"] and result["body"]["candidates"]  # tasks left for people

    cleaned = json.loads(manage(env, "shell", "-c", CLEANED).stdout.strip().splitlines()[-1])
    assert cleaned["state"] == "succeeded"
    image = cleaned["modalities"]["image"]  # the rated photos project's modality
    assert image["cleaned"] and image["threshold"] is not None, image
    assert image["pairs_kept"] == image["expected_kept"] and image["pairs_total"] == image["expected_total"]
    assert image["captions_kept"] == image["expected_captions_kept"]
    assert 0 < image["pairs_kept"] < image["pairs_total"], image
    for rank, kept in enumerate(image["expected_per_rank"], start=1):
        csv_file = cleaned["files"][f"csv/nn_{rank}/data_groups.csv"]
        assert csv_file["rows"] == csv_file["lines"] == kept  # only the image column is cleaned here
        assert csv_file["size"] == csv_file["bytes"]
        assert cleaned["files"][f"parquet/nn_{rank}/data_groups.parquet"]["rows"] == kept
