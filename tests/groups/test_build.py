"""Groups builds end to end on PostgreSQL + Redis + real Celery worker processes."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.groups import create_build, iter_chunks, iter_groups, runner
from annotation.models import Caption, GroupsBuild

from .conftest import SPACES, brute_force, four_spaces, wait_settled

pytestmark = pytest.mark.django_db(transaction=True)


def build_groups(spaces=None, k=5, **fields) -> GroupsBuild:
    build = create_build(["groupset"], spaces or four_spaces(), k=k, **fields)
    runner.start(build.pk)
    return build


def test_build_over_four_spaces_equals_brute_force(imported_groups, settings):
    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 10
    settings.PAIRRATE_GROUPS_ITEM_CHUNK_ROWS = 7
    build = wait_settled(build_groups(k=5))
    assert build.state == "succeeded", build.error
    assert build.modalities == ["video", "audio", "image", "point_cloud"]
    # the video space lacks two captions: the pool is the captions with a vector in every space
    assert build.counts["captions"] == 43 and build.counts["caption_chunks"] == 5
    assert build.parts.filter(state="pending").count() == 0
    chunks = list(iter_chunks(build))
    caption_ids = np.concatenate([c.caption_ids for c in chunks])
    external = dict(Caption.objects.values_list("pk", "external_id"))
    names = [external[i] for i in caption_ids.tolist()]
    assert names == [f"cap{i:03d}" for i in range(43)]
    for space, (modality, *_rest) in SPACES.items():
        expected_ids, expected_scores = brute_force(imported_groups, space, names, 5)
        ids = np.concatenate([c.items[modality][0] for c in chunks])
        scores = np.concatenate([c.items[modality][1] for c in chunks])
        assert (ids == expected_ids).all(), modality
        np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    rows = list(iter_groups(build))
    assert len(rows) == 43 * 4 * 5 and rows[0][:3] == (caption_ids[0], "video", 1)


def _read_csv(path):
    import csv

    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_export_has_the_published_columns_and_captions_times_k_rows(imported_groups, settings):
    import pyarrow.parquet as pq

    from annotation.groups.export import CSV_COLUMNS
    from annotation.models import Item

    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 16
    build = wait_settled(build_groups(k=4, spaces={"image": "g-image", "audio": "g-audio"}))
    assert build.state == "succeeded", build.error
    out = build.output_folder
    assert sorted(p.name for p in out.glob("csv/nn_*")) == ["nn_1", "nn_2", "nn_3", "nn_4"]
    external = dict(Item.objects.values_list("pk", "external_id"))
    captions = dict(Caption.objects.values_list("pk", "external_id"))
    chunks = list(iter_chunks(build))
    total = 0
    for nn in range(1, 5):
        rows = _read_csv(out / f"csv/nn_{nn}/data_groups.csv")
        assert (
            rows[0]
            == CSV_COLUMNS
            == [
                "encord_text_id",
                "encord_video_id",
                "encord_audio_id",
                "encord_image_id",
                "encord_points_id",
                "nn_index",
            ]
        )
        assert len(rows) - 1 == 45  # every caption has a vector in both spaces
        total += len(rows) - 1
        expected = [
            [captions[c], "", external[int(a[nn - 1])], external[int(i[nn - 1])], "", str(nn)]
            for chunk in chunks
            for c, a, i in zip(chunk.caption_ids.tolist(), chunk.items["audio"][0], chunk.items["image"][0])
        ]
        assert rows[1:] == expected
        table = pq.read_table(out / f"parquet/nn_{nn}/data_groups.parquet")
        assert table.column_names == CSV_COLUMNS + [
            "video_similarity",
            "audio_similarity",
            "image_similarity",
            "points_similarity",
        ]
        assert table.num_rows == 45 and table.column("nn_index").to_pylist() == [nn] * 45
        assert table.column("encord_image_id").to_pylist() == [r[3] for r in expected]
        sims = np.concatenate([c.items["image"][1][:, nn - 1] for c in chunks])
        np.testing.assert_array_equal(table.column("image_similarity").to_numpy(), sims)
        assert table.column("video_similarity").null_count == 45
    assert total == 45 * 4
    # a caption text with a comma and quotes is quoted as Python's csv module would
    text = _read_csv(out / "csv/infos/text.csv")
    assert text[0][:2] == ["encord_text_id", "caption"] and len(text) == 46 and text[1][1] == 'caption, number "0"'
    images = _read_csv(out / "csv/infos/image.csv")
    referenced = {external[int(i)] for c in chunks for i in c.items["image"][0].ravel()}
    assert images[0][0] == "encord_image_id" and {r[0] for r in images[1:]} == referenced
    assert not (out / "csv/infos/video.csv").exists()
    from annotation.groups.export import _sha256

    for name, record in build.files.items():
        assert _sha256(out / name) == {"bytes": record["bytes"], "sha256": record["sha256"]}, name
    assert (out / "SHA256SUMS").read_text().count("\n") == len(build.files)
    assert not list(out.parent.glob(".tmp-*")), "no half-written folder left behind"


@pytest.mark.parametrize("nlist, nprobe", [(2, 2), (None, None)], ids=["given", "defaults"])
def test_ivf_build_reports_recall_against_exact(imported_groups, settings, nlist, nprobe):
    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 20
    # every list probed (as the defaults do for a pool this small, fewer than 16 lists): IVF
    # scans everything, so it must find the exact groups (recall 1)
    build = wait_settled(build_groups(k=4, spaces={"image": "g-image"}, method="ivf", nlist=nlist, nprobe=nprobe))
    assert build.state == "succeeded", build.error
    assert (build.nlist, build.nprobe) == (nlist, nprobe)
    assert build.recall == {"image": {"recall_at_k": 1.0, "sample": 45, "k": 4}}
    chunks = list(iter_chunks(build))
    external = dict(Caption.objects.values_list("pk", "external_id"))
    names = [external[i] for c in chunks for i in c.caption_ids.tolist()]
    expected, _ = brute_force(imported_groups, "g-image", names, 4)
    assert (np.concatenate([c.items["image"][0] for c in chunks]) == expected).all()


def test_command_builds_in_process_when_celery_is_eager(imported_groups, monkeypatch, capsys):
    """As in the demo (no broker): the command's build runs in-process to the end."""
    from django.core.management import call_command

    from tasks.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    call_command(
        "build_groups",
        "--datasets",
        "groupset",
        "--space",
        "audio=g-audio",
        "--space",
        "video=g-video",
        "--k",
        "2",
        "--name",
        "eager",
    )
    build = GroupsBuild.objects.get(name="eager")
    assert build.state == "succeeded" and build.counts["captions"] == 43
    assert "succeeded: 43 captions x 2 in video, audio" in capsys.readouterr().out
