"""Every bad bundle is refused with file/line/column, and nothing changes anywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotation.importing import BundleError, import_bundle

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported_once(make_bundle, snapshot):
    """A valid import first, so 'unchanged' covers updates, not only an empty database."""
    import_bundle(make_bundle("csv", name="good"))
    return snapshot()


def assert_refused(root, snapshot, before, file, line, column, words):
    with pytest.raises(BundleError) as info:
        import_bundle(root)
    error = info.value.errors[0]
    assert (error.file, error.line, error.column) == (file, line, column), str(error)
    assert words in error.message
    assert snapshot() == before


def test_missing_column(make_bundle, imported_once, snapshot):
    root = make_bundle("csv")
    text = (root / "items.csv").read_text().replace("modality,", "kind,", 1)
    (root / "items.csv").write_text(text)
    assert_refused(root, snapshot, imported_once, "items.csv", 1, "modality", "required column is missing")


def test_unknown_modality(make_bundle, imported_once, snapshot):
    root = make_bundle("jsonl")
    lines = (root / "items.jsonl").read_text().splitlines()
    row = json.loads(lines[2])
    row["modality"] = "smell"
    lines[2] = json.dumps(row)
    (root / "items.jsonl").write_text("\n".join(lines) + "\n")
    assert_refused(root, snapshot, imported_once, "items.jsonl", 3, "modality", "unknown modality 'smell'")


def test_duplicate_id_in_file(make_bundle, imported_once, snapshot):
    root = make_bundle("csv")
    lines = (root / "captions.csv").read_text().splitlines()
    lines.append(lines[1])
    (root / "captions.csv").write_text("\n".join(lines) + "\n")
    assert_refused(root, snapshot, imported_once, "captions.csv", 5, "id", "duplicate id 'cap0' (first on line 2)")


def test_non_utf8_text(make_bundle, imported_once, snapshot):
    root = make_bundle("csv")
    data = (root / "captions.csv").read_bytes().replace(b"a photo number 2", b"a caf\xe9 photo")
    (root / "captions.csv").write_bytes(data)
    assert_refused(root, snapshot, imported_once, "captions.csv", 4, "text", "not valid UTF-8")


def test_vectors_of_wrong_dimension(make_bundle, imported_once, snapshot):
    root = make_bundle("csv", item_vectors=np.ones((4, 5), np.float32))
    assert_refused(root, snapshot, imported_once, "items.npy", None, "dim", "dimension 5, the space expects 8")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_vector(make_bundle, imported_once, snapshot, bad):
    vectors = np.ones((4, 8), np.float32)
    vectors[2, 5] = bad
    root = make_bundle("csv", item_vectors=vectors)
    assert_refused(root, snapshot, imported_once, "items.npy", 3, None, "NaN or infinity")


def test_zero_vector(make_bundle, imported_once, snapshot):
    vectors = np.ones((4, 8), np.float32)
    vectors[0] = 0
    root = make_bundle("csv", item_vectors=vectors)
    assert_refused(root, snapshot, imported_once, "items.npy", 1, None, "zero vector")


def test_id_list_and_matrix_lengths_differ(make_bundle, imported_once, snapshot):
    root = make_bundle("csv", item_vectors=np.ones((3, 8), np.float32))
    assert_refused(root, snapshot, imported_once, "items.npy", None, None, "3 vectors but 4 ids")


def test_missing_local_media_file(make_bundle, imported_once, snapshot):
    root = make_bundle("csv")
    (root / "media" / "img1.jpg").unlink()
    assert_refused(root, snapshot, imported_once, "items.csv", 3, "media", "media file 'media/img1.jpg' not found")


def test_media_path_escaping_the_bundle(make_bundle, imported_once, snapshot):
    root = make_bundle("csv")
    (root / "items.csv").write_text((root / "items.csv").read_text().replace("media/img1.jpg", "../../etc/passwd"))
    assert_refused(root, snapshot, imported_once, "items.csv", 3, "media", "must stay inside the bundle")


def test_unknown_paired_item_rolls_back_rows_already_written(make_bundle, imported_once, snapshot):
    """This error is found inside the transaction, after items were written: all undone."""
    root = make_bundle("csv")
    (root / "items.csv").write_text((root / "items.csv").read_text().replace("CC BY 2.0", "CC0"))
    (root / "media" / "img0.jpg").write_bytes(b"changed photo")
    (root / "captions.csv").write_text((root / "captions.csv").read_text().replace(",img2,", ",img99,"))
    assert_refused(root, snapshot, imported_once, "captions.csv", 4, "paired_item", "unknown paired item 'img99'")


def test_vector_id_not_in_dataset(make_bundle, imported_once, snapshot):
    root = make_bundle("csv", item_vector_ids=["img0", "img1", "img2", "ghost"])
    assert_refused(root, snapshot, imported_once, "items.ids.txt", 4, None, "no image item with id 'ghost'")


def test_corrupt_npy(make_bundle, imported_once, snapshot):
    root = make_bundle("csv")
    (root / "items.npy").write_bytes(b"\x93NUMPY garbage")
    assert_refused(root, snapshot, imported_once, "items.npy", None, None, "not a readable .npy file")


def test_space_redefined_with_another_dimension(make_bundle, imported_once, snapshot):
    root = make_bundle("csv", dim=5, item_vectors=np.ones((4, 5), np.float32))
    import numpy  # captions.npy must match too

    numpy.save(root / "captions.npy", np.ones((3, 5), np.float32))
    assert_refused(root, snapshot, imported_once, "pairrate.json", None, "embeddings", "exists as")


def test_malformed_json_line(make_bundle, imported_once, snapshot):
    root = make_bundle("jsonl")
    with open(root / "captions.jsonl", "a") as handle:
        handle.write('{"id": "cap9", "text": \n')
    assert_refused(root, snapshot, imported_once, "captions.jsonl", 4, None, "invalid JSON")


def test_every_error_is_reported_at_once(make_bundle, imported_once, snapshot):
    root = make_bundle("csv")
    text = (root / "items.csv").read_text().replace(",image,", ",smell,")
    (root / "items.csv").write_text(text)
    with pytest.raises(BundleError) as info:
        import_bundle(root)
    assert [e.line for e in info.value.errors] == [2, 3, 4, 5]
    assert snapshot() == imported_once
