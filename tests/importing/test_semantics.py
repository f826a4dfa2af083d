"""Exact import semantics: partial re-imports leave absent columns alone, time spans are
checked, and every bad vector file is reported at once with per-file counts."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.importing import BundleError, import_bundle
from annotation.models import Caption, Item
from tests.annotation.conftest import write_table

pytestmark = pytest.mark.django_db


def test_reimport_without_optional_columns_keeps_stored_values(make_bundle, writer_path):
    root = make_bundle("csv")
    import_bundle(root)
    items_before = {i.external_id: (i.media, i.source_dataset, i.license, i.metadata) for i in Item.objects.all()}
    captions_before = {
        c.external_id: (c.source_modality, c.paired_item_id, c.source_dataset, c.license) for c in Caption.objects.all()
    }
    assert items_before["img0"][3] == {"photographer": "p0"}

    # Only the required columns (and a new license for the items): the rest stays as stored.
    write_table(root / "items.csv", [{"id": f"img{i}", "modality": "image", "license": "CC0"} for i in range(4)])
    write_table(root / "captions.csv", [{"id": f"cap{i}", "text": f"new text {i}"} for i in range(3)])
    import_bundle(root)
    assert {i.external_id: (i.media, i.source_dataset, i.license, i.metadata) for i in Item.objects.all()} == {
        key: (media, source, "CC0", metadata) for key, (media, source, _, metadata) in items_before.items()
    }
    assert {
        c.external_id: (c.source_modality, c.paired_item_id, c.source_dataset, c.license) for c in Caption.objects.all()
    } == captions_before
    assert sorted(Caption.objects.values_list("text", flat=True)) == ["new text 0", "new text 1", "new text 2"]

    # A column that is present with an empty cell clears that value (docs/formats.md).
    write_table(root / "items.csv", [{"id": f"img{i}", "modality": "image", "license": ""} for i in range(4)])
    import_bundle(root)
    assert set(Item.objects.values_list("license", flat=True)) == {""}
    assert Item.objects.get(external_id="img0").metadata == {"photographer": "p0"}


def emm1_audio(tmp_path, spans) -> object:
    infos = tmp_path / "release" / "infos"
    infos.mkdir(parents=True)
    (infos / "audio.csv").write_text(
        "encord_audio_id,source_dataset,dataset_license,file_name,save_folder,youtube_id,start_time,end_time\n"
        + "".join(
            f"au{i},audiocaps,CC BY 4.0,au{i}.wav,audio,yt{i},{start},{end}\n" for i, (start, end) in enumerate(spans)
        )
    )
    return tmp_path / "release"


def test_time_ranges_must_be_ordered_and_non_negative(tmp_path, snapshot):
    before = snapshot()
    root = emm1_audio(tmp_path, [(0, 10), (5, 5), (12, 3), (-1, 4), ("x", 4), (2, "inf"), ("", "")])
    with pytest.raises(BundleError) as info:
        import_bundle(root)
    found = [(e.line, e.column, e.message) for e in info.value.errors]
    assert found == [
        (3, "end_time", "end_time 5 must be greater than start_time 5"),
        (4, "end_time", "end_time 3 must be greater than start_time 12"),
        (5, "start_time", "start_time -1 is negative"),
        (6, "start_time", "start_time must be a number of seconds, not 'x'"),
        (7, "end_time", "end_time must be a number of seconds, not 'inf'"),
    ]
    assert {e.file for e in info.value.errors} == {"infos/audio.csv"}
    assert snapshot() == before


def test_valid_time_ranges_are_kept(tmp_path):
    import_bundle(emm1_audio(tmp_path, [(0, 10), (2.5, 7.25), ("", "")]))
    assert Item.objects.get(external_id="au1").metadata["start_time"] == "2.5"


def test_every_bad_vector_file_is_reported_at_once(make_bundle, snapshot):
    import_bundle(make_bundle("csv", name="good"))
    before = snapshot()
    items = np.ones((4, 8), np.float32)
    items[[0, 2, 3]] = np.nan
    root = make_bundle("csv", item_vectors=items)
    captions = np.ones((3, 8), np.float32)
    captions[1] = 0
    captions[2, 4] = np.inf
    np.save(root / "captions.npy", captions)
    with pytest.raises(BundleError) as info:
        import_bundle(root)
    found = [(e.file, e.line, e.message) for e in info.value.errors]
    assert found == [
        ("captions.npy", 3, "1 of 3 rows hold NaN or infinity (first: rows 3)"),
        ("captions.npy", 3, "row 3 (id 'cap2') holds NaN or infinity"),
        ("captions.npy", 2, "1 of 3 rows hold a zero vector (first: rows 2)"),
        ("captions.npy", 2, "row 2 (id 'cap1') holds a zero vector"),
        ("items.npy", 1, "3 of 4 rows hold NaN or infinity (first: rows 1, 3, 4)"),
        ("items.npy", 1, "row 1 (id 'img0') holds NaN or infinity"),
        ("items.npy", 3, "row 3 (id 'img2') holds NaN or infinity"),
        ("items.npy", 4, "row 4 (id 'img3') holds NaN or infinity"),
    ]
    assert snapshot() == before


def test_many_bad_rows_are_counted_and_capped(make_bundle, snapshot):
    before = snapshot()
    root = make_bundle(
        "csv",
        n_items=200,
        items=[{"id": f"img{i}", "modality": "image"} for i in range(200)],
        item_vectors=np.full((200, 8), np.nan, np.float32),
    )
    with pytest.raises(BundleError) as info:
        import_bundle(root)
    messages = [e.message for e in info.value.errors]
    assert messages[0] == "200 of 200 rows hold NaN or infinity (first: rows 1, 2, 3, 4, 5)"
    assert len(messages) == 6
    assert snapshot() == before
