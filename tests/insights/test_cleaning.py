"""Cleaning a groups build with a rated project's threshold: kept counts match the
threshold, the layouts are the groups export's, P(good) is the project's model."""

from __future__ import annotations

import csv
import hashlib
import io

import numpy as np
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.groups import create_build, iter_chunks, runner, store
from annotation.groups.export import CSV_COLUMNS
from annotation.models import Caption, EmbeddingSpace, GroupsBuild, Item, Project
from sampling import statistics as st
from tests.annotation.workflow_setup import make_user
from tests.insights.conftest import honest, rate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager(settings):
    """The build's Celery tasks run in this process (the groups tests run them on workers)."""
    from tasks.celery_app import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def built(k: int = 8) -> GroupsBuild:
    build = create_build(["launchset"], {"image": "t-image"}, k=k, caption_source_modalities=["image"])
    runner.run_plan(build.pk)
    build.refresh_from_db()
    assert build.state == "succeeded", build.error
    return build


def test_cleaned_export_keeps_exactly_the_pairs_at_or_above_the_threshold(launched, eager):
    project = launched("rated-images", audit_share=0.5)
    rate(project, {"ann1": honest, "ann2": honest})
    build = built()
    client = APIClient()
    client.force_authenticate(make_user("boss", staff=True))
    response = client.post(
        f"/api/insights/groups/{build.pk}/clean/", {"projects": [project.pk], "target": 0.8}, format="json"
    )
    assert response.status_code == 202, response.content
    poll = response.json()["poll_url"]
    run = client.get(poll).json()  # eager: the cpu task ran inside the request
    assert run["state"] == "succeeded" and run["progress"] == 1.0 and run["attempts"] == 1, run
    assert run["request"] == {"projects": [project.pk], "target": 0.8, "label": "good", "n_boot": 1000}
    manifest = run["manifest"]
    image = manifest["modalities"]["image"]
    threshold = image["threshold"]
    assert threshold is not None and image["project"] == project.pk and image["cleaned"]
    # independently: the pairs of the build at or above the threshold
    chunks = list(iter_chunks(build))
    scores = np.concatenate([c.items["image"][1] for c in chunks])
    ids = np.concatenate([c.items["image"][0] for c in chunks])
    captions = np.concatenate([c.caption_ids for c in chunks])
    kept = scores >= threshold
    assert 0 < kept.sum() < kept.size
    assert image["pairs_kept"] == int(kept.sum()) and image["pairs_total"] == kept.size
    assert image["captions_kept"] == int(kept.any(axis=1).sum()) and image["captions_total"] == len(captions)

    folder = store.folder(build.pk) / "cleaned"
    external_caption = dict(Caption.objects.values_list("pk", "external_id"))
    external_item = dict(Item.objects.values_list("pk", "external_id"))
    for nn in range(1, build.k + 1):
        with open(folder / "csv" / f"nn_{nn}" / "data_groups.csv", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == CSV_COLUMNS
        expected = [
            [external_caption[int(c)], "", "", external_item[int(i)], "", str(nn)]
            for c, i, keep in zip(captions, ids[:, nn - 1], kept[:, nn - 1])
            if keep
        ]
        assert rows[1:] == expected
        assert manifest["files"][f"csv/nn_{nn}/data_groups.csv"]["rows"] == len(expected)
        table = pq.read_table(folder / "parquet" / f"nn_{nn}" / "data_groups.parquet").to_pydict()
        assert table["encord_image_id"] == [r[3] for r in expected]
        assert min(table["image_similarity"], default=1.0) >= threshold - 1e-6
        p = st.predict(image["model"], np.array(table["image_similarity"]), np.full(len(expected), nn - 1))
        np.testing.assert_allclose(table["image_p_good"], p, rtol=1e-5)
        assert all(v is None for v in table["encord_video_id"])

    name = "csv/nn_1/data_groups.csv"
    download = client.get(f"/api/insights/groups/{build.pk}/cleaned/{name}")
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == manifest["files"][name]["sha256"]
    assert client.get(f"/api/insights/groups/{build.pk}/cleaned/manifest.json").status_code == 404
    assert client.get(f"/api/insights/groups/{build.pk}/cleaned/../../../etc/passwd").status_code == 404
    assert client.get(f"/api/insights/groups/{build.pk}/clean/").json()["manifest"]["files"] == manifest["files"]

    # the task is idempotent: a redelivered message of the finished run does nothing
    from tasks.cpu import clean_groups

    token = GroupsBuild.objects.get(pk=build.pk).counts["cleaning"]["token"]
    assert clean_groups.apply(args=(build.pk, token)).get() == "succeeded"
    assert client.get(poll).json()["attempts"] == 1
    assert clean_groups.apply(args=(build.pk, "superseded")).get() == "succeeded"
    # a worker killed mid-run: its record says running, with a heartbeat gone stale
    stored = GroupsBuild.objects.get(pk=build.pk)
    stored.counts["cleaning"].update(state="running", heartbeat_at="2000-01-01T00:00:00+00:00", manifest=None)
    stored.save(update_fields=["counts"])
    assert client.get(f"/api/insights/groups/{build.pk}/cleaned/{name}").status_code == 404  # nothing complete
    assert clean_groups.apply(args=(build.pk, token)).get() == "succeeded"  # the redelivery writes it again
    again = client.get(poll).json()
    assert again["attempts"] == 2 and again["manifest"]["files"] == manifest["files"]
    # while a run is alive, a second request is refused
    stored.refresh_from_db()
    stored.counts["cleaning"].update(state="running", heartbeat_at=timezone.now().isoformat())
    stored.save(update_fields=["counts"])
    busy = client.post(f"/api/insights/groups/{build.pk}/clean/", {"projects": [project.pk]}, format="json")
    assert busy.status_code == 409, busy.content

    stored.counts["cleaning"]["state"] = "succeeded"
    stored.save(update_fields=["counts"])
    out = io.StringIO()
    call_command("clean_groups", str(build.pk), "--project", str(project.pk), "--target", "0.8", stdout=out)
    assert f"kept {image['pairs_kept']} of {image['pairs_total']} pairs" in out.getvalue()


def test_bad_cleaning_requests_are_refused_and_nothing_is_written(launched, eager):
    project = launched("unrated-images")
    clouds = Project.objects.create(
        name="clouds",
        space=EmbeddingSpace.objects.get(name="t-points"),
        target_modality="point_cloud",
        sample_size=1,
        item_cap=1,
    )
    build = built(k=4)
    client = APIClient()
    client.force_authenticate(make_user("boss", staff=True))
    url = f"/api/insights/groups/{build.pk}/clean/"
    for body, field in (
        ({"projects": []}, "projects"),
        ({"projects": [999999]}, "projects"),
        ({"projects": [project.pk]}, "projects"),  # no rated pairs yet
        ({"projects": [clouds.pk]}, "projects"),  # the build has no point-cloud groups
        ({"projects": [project.pk], "target": 3}, "target"),
    ):
        response = client.post(url, body, format="json")
        assert response.status_code == 400 and field in str(response.json()), (body, response.json())
    assert not (store.folder(build.pk) / "cleaned").exists()
    assert client.get(url).status_code == 404 and "cleaning" not in GroupsBuild.objects.get(pk=build.pk).counts
    annotator = APIClient()
    annotator.force_authenticate(make_user("ann9"))
    assert annotator.post(url, {"projects": [project.pk]}, format="json").status_code == 403
