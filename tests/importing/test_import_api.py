"""The admin import endpoint: uploads and server paths, run by a real Celery worker."""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from annotation.models import Dataset, ImportRun, Item

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client():
    user = User.objects.create_user("admin", password="pw", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def annotator_client():
    client = APIClient()
    client.force_authenticate(User.objects.create_user("annotator", password="pw"))
    return client


def zipped(folder) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in folder.rglob("*"):
            if path.is_file():
                archive.write(path, f"bundle/{path.relative_to(folder)}")
    buffer.seek(0)
    buffer.name = "bundle.zip"
    return buffer


def wait_for(run_id: int, timeout: float = 60) -> ImportRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = ImportRun.objects.get(pk=run_id)
        if run.state in (ImportRun.State.SUCCEEDED, ImportRun.State.FAILED):
            return run
        time.sleep(0.2)
    raise AssertionError(f"import run {run_id} still {run.state} after {timeout} s")


def test_upload_is_imported_by_the_worker(admin_client, make_bundle, running_worker):
    response = admin_client.post("/api/imports/", {"bundle": zipped(make_bundle("csv"))}, format="multipart")
    assert response.status_code == 202, response.content
    run = wait_for(response.json()["id"])
    assert run.state == "succeeded", run.errors
    assert run.counts["items"] == 4 and run.progress == 1.0
    assert Item.objects.filter(dataset__name="demo-set").count() == 4
    # The worker wrote media into its own storage: the shared volume in a deployment.
    assert (running_worker.media_root / "datasets/demo-set/media/img0.jpg").is_file()
    status = admin_client.get(f"/api/imports/{run.id}/").json()
    assert status["state"] == "succeeded"


def test_bad_bundle_reports_file_line_column(admin_client, make_bundle, running_worker, tmp_path):
    root = make_bundle("csv")
    (root / "items.csv").write_text((root / "items.csv").read_text().replace(",image,", ",smell,", 1))
    target = tmp_path.parent / f"api-path-{tmp_path.name}"
    shutil.copytree(root, target)
    response = admin_client.post("/api/imports/", {"path": str(target)}, format="json")
    assert response.status_code == 202
    run = wait_for(response.json()["id"])
    assert run.state == "failed"
    assert run.errors[0] == {
        "file": "items.csv",
        "line": 2,
        "column": "modality",
        "message": "unknown modality 'smell'; expected one of ['image', 'video', 'audio', 'point_cloud']",
    }
    assert not Dataset.objects.exists()


def test_rejections_change_nothing(admin_client, annotator_client, settings, make_bundle):
    root = make_bundle("csv")
    assert annotator_client.post("/api/imports/", {"path": str(root)}, format="json").status_code == 403
    assert APIClient().post("/api/imports/", {"path": str(root)}, format="json").status_code in (401, 403)

    outside = admin_client.post("/api/imports/", {"path": "/etc"}, format="json")
    assert outside.status_code == 400 and "outside the import folders" in outside.json()["fields"]["path"][0]

    settings.PAIRRATE_MAX_UPLOAD_BYTES = 100
    big = admin_client.post("/api/imports/", {"bundle": zipped(root)}, format="multipart")
    assert big.status_code == 413 and big.json()["code"] == "upload_too_large"
    assert "exceeds the limit of 100 bytes" in big.json()["detail"]

    settings.PAIRRATE_MAX_UPLOAD_BYTES = 10**9
    annotator_upload = annotator_client.post("/api/imports/", {"bundle": zipped(root)}, format="multipart")
    assert annotator_upload.status_code == 403
    text = io.BytesIO(b"id,modality\n")
    text.name = "items.csv"
    wrong_kind = admin_client.post("/api/imports/", {"bundle": text}, format="multipart")
    assert wrong_kind.status_code == 400 and ".zip" in wrong_kind.json()["fields"]["bundle"][0]
    both = admin_client.post("/api/imports/", {"bundle": zipped(root), "path": str(root)}, format="multipart")
    assert both.status_code == 400

    assert not ImportRun.objects.exists() and not Dataset.objects.exists()
    assert not any(settings.PAIRRATE_UPLOAD_ROOT.iterdir()), "refused uploads leave nothing on disk"


def test_uploads_are_removed_when_the_import_ends(admin_client, make_bundle, running_worker, worker_env, settings):
    """Success or failure: the uploaded archive and what the worker unpacked are gone; a
    corrupt archive is found by the worker, not in the web request."""
    good = admin_client.post("/api/imports/", {"bundle": zipped(make_bundle("csv"))}, format="multipart")
    corrupt = io.BytesIO(b"PK\x03\x04 not really a zip")
    corrupt.name = "bundle.zip"
    bad = admin_client.post("/api/imports/", {"bundle": corrupt}, format="multipart")
    assert good.status_code == bad.status_code == 202
    assert wait_for(good.json()["id"]).state == "succeeded"
    failed = wait_for(bad.json()["id"])
    assert failed.state == "failed" and "corrupt archive" in failed.errors[0]["message"]
    assert failed.errors[0]["file"] == "bundle.zip"
    assert not any(settings.PAIRRATE_UPLOAD_ROOT.iterdir())
    assert not list(Path(worker_env["PAIRRATE_UPLOAD_ROOT"]).glob("unpacked-*"))


def test_datasets_listing_is_admin_only(admin_client, annotator_client, make_bundle):
    from annotation.importing import import_bundle

    import_bundle(make_bundle("csv"))
    listing = admin_client.get("/api/datasets/").json()["results"]
    assert listing[0]["name"] == "demo-set" and listing[0]["items"] == {"image": 4}
    assert annotator_client.get("/api/datasets/").status_code == 403


def test_emm1_release_with_embeddings_in_one_api_call(admin_client, running_worker, tmp_path):
    """An archive of infos/ + embeddings/ + pairrate.json without a top folder: the dataset is
    named after the archive."""
    from tests.export.test_roundtrip import write_release
    from tests.importing.test_emm1_vectors import add_embeddings

    root = add_embeddings(write_release(tmp_path / "release"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in root.rglob("*"):
            if path.is_file():
                archive.write(path, str(path.relative_to(root)))
    buffer.seek(0)
    buffer.name = "e-mm1-sample.zip"
    response = admin_client.post("/api/imports/", {"bundle": buffer}, format="multipart")
    assert response.status_code == 202, response.content
    run = wait_for(response.json()["id"])
    assert run.state == "succeeded", run.errors
    assert run.dataset_name == "e-mm1-sample" and run.counts["vectors"]["pts/items"] == 4
    assert Item.objects.filter(dataset__name="e-mm1-sample").count() == 12
