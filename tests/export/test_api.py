"""The export endpoints and command on a real worker: admins only, bad input refused."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import ExportRun
from tests.export.builders import build_world, make_users


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def wait_done(client, run_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.get(f"/api/exports/{run_id}/").json()
        if data["state"] in ("succeeded", "failed"):
            return data
        time.sleep(0.1)
    raise AssertionError(f"export {run_id} did not finish: {data}")


@pytest.mark.django_db(transaction=True)
def test_admin_exports_several_projects_through_the_worker(running_worker):
    world = build_world()
    admin = make_users("boss", staff=True)[0]
    client = client_for(admin)
    response = client.post(
        f"/api/projects/{world.three.pk}/exports/",
        {"format": "jsonl", "projects": [world.single.pk], "filters": {"labels": ["good"]}},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert response.json()["projects"] == sorted([world.three.pk, world.single.pk])
    data = wait_done(client, response.json()["id"])
    assert data["state"] == "succeeded" and data["row_count"] == 5 and data["progress"] == 1.0
    assert data["download_url"].endswith(f"/api/exports/{data['id']}/download/")
    download = client.get(f"/api/exports/{data['id']}/download/")
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == data["sha256"] == download["X-Checksum-SHA256"]
    assert {json.loads(line)["label"] for line in body.splitlines()} == {"good"}
    assert [r["id"] for r in client.get(f"/api/projects/{world.single.pk}/exports/").json()] == [data["id"]]

    annotator = client_for(world.annotators[0])
    assert annotator.get(f"/api/exports/{data['id']}/").status_code == 403
    assert annotator.get(f"/api/exports/{data['id']}/download/").status_code == 403


@pytest.mark.django_db
def test_non_admin_and_bad_input_are_refused_and_store_nothing():
    world = build_world()
    admin = client_for(make_users("boss", staff=True)[0])
    annotator = client_for(world.annotators[0])
    url = f"/api/projects/{world.three.pk}/exports/"
    assert annotator.post(url, {"format": "jsonl"}, format="json").status_code == 403
    assert APIClient().post(url, {"format": "jsonl"}, format="json").status_code in (401, 403)
    assert (
        annotator.post("/api/exports/", {"format": "jsonl", "projects": [world.three.pk]}, format="json").status_code
        == 403
    )
    assert admin.post(url, {"format": "xml"}, format="json").status_code == 400
    refused = admin.post(url, {"format": "jsonl", "filters": {"labels": ["great"]}}, format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "filters.labels"
    refused = admin.post(url, {"format": "pairs", "options": {"partial": "maybe"}}, format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "options"
    assert admin.post("/api/projects/999999/exports/", {"format": "jsonl"}, format="json").status_code == 404
    refused = admin.post(url, {"format": "jsonl", "projects": [999999]}, format="json")
    assert refused.status_code == 404 and refused.json()["code"] == "unknown_project"
    assert admin.post("/api/exports/", {"format": "jsonl"}, format="json").status_code == 400
    assert not ExportRun.objects.exists()


@pytest.mark.django_db
def test_download_waits_for_a_finished_file():
    world = build_world()
    admin = client_for(make_users("boss", staff=True)[0])
    run = ExportRun.objects.create(format="jsonl")
    run.projects.set([world.three])
    response = admin.get(f"/api/exports/{run.pk}/download/")
    assert response.status_code == 409 and response.json()["code"] == "not_ready"
    assert admin.get(f"/api/exports/{run.pk}/").json()["download_url"] is None


@pytest.mark.django_db
def test_command_line_export(tmp_path, capsys):
    world = build_world()
    out = tmp_path / "pairs.jsonl"
    call_command(
        "export_ratings",
        "--project",
        str(world.three.pk),
        "--format",
        "pairs",
        "--label",
        "good",
        "--gold",
        "exclude",
        "--option",
        "partial=positive",
        "--output",
        str(out),
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 2 and out.read_bytes() == open(summary["path"], "rb").read()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == summary["sha256"]
    with pytest.raises(CommandError, match="min_agreement"):
        call_command(
            "export_ratings",
            "--project",
            str(world.three.pk),
            "--format",
            "csv",
            "--min-agreement",
            "2",
            "--no-progress",
        )
    with pytest.raises(CommandError, match="no project"):
        call_command("export_ratings", "--project", "999999", "--format", "csv", "--no-progress")
