"""The E-MM1 layout with its embeddings imports in one command (and one API call), and an
`emm1` export re-imports with its vectors, giving the same file when exported again."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from annotation.importing import BundleError, import_bundle
from annotation.models import Caption, CaptionVector, Dataset, EmbeddingSpace, ExportRun, Item, ItemVector, Project
from tests.export.test_roundtrip import LABELS, export_emm1, rate_release, write_release

pytestmark = pytest.mark.django_db

RATINGS = [
    ("tx0", "pc0", "good"),
    ("tx0", "pc1", "bad"),
    ("tx1", "pc2", "partial"),
    ("tx3", "pc3", "good"),
    ("tx4", "im3", "good"),
    ("tx5", "im4", "partial"),
    ("tx5", "im0", "bad"),
]


def add_embeddings(root, dim=6):
    """Vectors for every caption and for the images and point clouds (not unit length)."""
    rng = np.random.default_rng(3)
    folder = root / "embeddings"
    folder.mkdir()
    entries = []
    for space, modality, ids in (
        ("clip-img", "image", [f"im{i}" for i in range(5)]),
        ("pts", "point_cloud", [f"pc{i}" for i in range(4)]),
    ):
        captions = [f"tx{i}" for i in range(6)]
        for side, names in (("captions", captions), ("items", ids)):
            np.save(folder / f"{space}-{side}.npy", (rng.normal(size=(len(names), dim)) * 5).astype(np.float32))
            (folder / f"{space}-{side}.ids.txt").write_text("".join(n + "\n" for n in names))
        entries.append(
            {
                "space": space,
                "model": f"toy-{space}",
                "dim": dim,
                "target_modality": modality,
                **{
                    side: {"vectors": f"embeddings/{space}-{side}.npy", "ids": f"embeddings/{space}-{side}.ids.txt"}
                    for side in ("captions", "items")
                },
            }
        )
    (root / "pairrate.json").write_text(json.dumps({"embeddings": entries}))
    return root


def stored_vectors() -> dict:
    out = {}
    for model, key in ((CaptionVector, "caption"), (ItemVector, "item")):
        for vector in model.objects.select_related("shard", "space", key):
            out[(vector.space.name, getattr(vector, key).external_id)] = vector.shard.load()[vector.row].copy()
    return out


def test_release_with_embeddings_imports_in_one_command(tmp_path, capsys):
    root = add_embeddings(write_release(tmp_path / "release"))
    call_command("import_dataset", str(root), "--no-progress")
    summary = json.loads(capsys.readouterr().out)
    assert summary["vectors"] == {"clip-img/captions": 6, "clip-img/items": 5, "pts/captions": 6, "pts/items": 4}
    assert Dataset.objects.get().name == "release" and Item.objects.count() == 12
    vectors = stored_vectors()
    raw = np.load(root / "embeddings/pts-items.npy")
    assert np.allclose(vectors[("pts", "pc2")], raw[2] / np.linalg.norm(raw[2]), atol=1e-6)


def test_unnamed_vectors_beside_infos_are_refused_not_skipped(tmp_path, snapshot):
    before = snapshot()
    root = add_embeddings(write_release(tmp_path / "release"))
    (root / "pairrate.json").unlink()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("import_dataset", str(root), "--no-progress")
    with pytest.raises(BundleError) as info:
        import_bundle(root)
    files = sorted(e.file for e in info.value.errors)
    assert files == sorted(f"embeddings/{s}-{side}.npy" for s in ("clip-img", "pts") for side in ("captions", "items"))
    assert "no pairrate.json 'embeddings' entry names" in info.value.errors[0].message
    assert snapshot() == before


def test_manifest_tables_beside_infos_are_refused_not_ignored(tmp_path, snapshot):
    before = snapshot()
    root = add_embeddings(write_release(tmp_path / "release"))
    manifest = json.loads((root / "pairrate.json").read_text())
    (root / "pairrate.json").write_text(json.dumps({**manifest, "items": "items.csv"}))
    with pytest.raises(BundleError) as info:
        import_bundle(root)
    error = info.value.errors[0]
    assert (error.file, error.column) == ("pairrate.json", "items") and "infos/ folder is present" in error.message
    assert snapshot() == before


def test_emm1_export_reimports_with_its_vectors(tmp_path, django_user_model):
    import_bundle(add_embeddings(write_release(tmp_path / "release")), "release")
    rate_release(RATINGS)
    before = stored_vectors()
    first = export_emm1()
    first_bytes = first.read_bytes()
    with zipfile.ZipFile(first) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("pairrate.json"))
    assert {"embeddings/pts/items.npy", "embeddings/pts/items.ids.txt", "embeddings/clip-img/captions.npy"} <= names
    assert [e["space"] for e in manifest["embeddings"]] == ["clip-img", "pts"]

    Project.objects.all().delete()
    Dataset.objects.all().delete()
    EmbeddingSpace.objects.all().delete()
    ExportRun.objects.all().delete()
    django_user_model.objects.all().delete()
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(io.BytesIO(first_bytes)) as archive:
        archive.extractall(unpacked)
    summary = import_bundle(unpacked, "release")
    after = stored_vectors()
    assert set(after) <= set(before) and summary.vectors["pts/items"] == 4
    for key, vector in after.items():
        assert np.array_equal(vector, before[key]), key  # bit for bit: unit rows are kept as they are

    triplets = [
        line.split(",")
        for line in zipfile.ZipFile(io.BytesIO(first_bytes)).read("triplets.csv").decode().splitlines()[1:]
    ]
    rate_release([(t[0], t[4], LABELS[t[5].strip()]) for t in triplets])
    assert export_emm1().read_bytes() == first_bytes


def test_export_without_vectors_option(tmp_path):
    from annotation.export import create_run, execute_run

    import_bundle(add_embeddings(write_release(tmp_path / "release")), "release")
    rate_release(RATINGS)
    run = execute_run(
        create_run(list(Project.objects.values_list("pk", flat=True)), "emm1", options={"vectors": "exclude"}).pk
    )
    with zipfile.ZipFile(run.absolute_path) as archive:
        assert not [n for n in archive.namelist() if n.startswith("embeddings/") or n == "pairrate.json"]
    assert Caption.objects.count() == 6
