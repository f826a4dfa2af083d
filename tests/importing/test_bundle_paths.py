"""Every path a bundle names stays inside the bundle: manifest entries, table media
columns, symbolic links. Refusals name where the path came from, never echo what lies
outside, and change nothing in the database or media storage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotation.importing import BundleError, import_bundle
from annotation.models import Item

pytestmark = pytest.mark.django_db

SECRET = "TOPSECRET-e9f1"


@pytest.fixture
def imported_once(make_bundle, snapshot):
    import_bundle(make_bundle("csv", name="good"))
    return snapshot()


@pytest.fixture
def outside(tmp_path):
    """Files outside every bundle that would import cleanly if they were read."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "table.csv").write_text(f"id,modality,text\n{SECRET},image,{SECRET}\n")
    (folder / "ids.txt").write_text(f"{SECRET}\n")
    np.save(folder / "vectors.npy", np.ones((1, 8), np.float32))
    (folder / "photo.jpg").write_bytes(SECRET.encode())
    return folder


def refused(root, snapshot, before) -> list:
    with pytest.raises(BundleError) as info:
        import_bundle(root)
    assert snapshot() == before
    assert SECRET not in str(info.value) and all(SECRET not in e.message for e in info.value.errors)
    return info.value.errors


def set_manifest(root, change) -> None:
    manifest = json.loads((root / "pairrate.json").read_text())
    change(manifest)
    (root / "pairrate.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("form", ["absolute", "dotdot", "symlink"])
@pytest.mark.parametrize("key", ["items", "captions", "embeddings[0].items.vectors", "embeddings[0].captions.ids"])
def test_manifest_paths_outside_the_bundle(make_bundle, imported_once, snapshot, outside, key, form):
    root = make_bundle("csv")
    target = outside / {"items": "table.csv", "captions": "table.csv"}.get(
        key, "vectors.npy" if "vectors" in key else "ids.txt"
    )
    if form == "absolute":
        value = str(target)
    elif form == "dotdot":
        value = f"../outside/{target.name}"
    else:
        (root / f"link-{target.name}").symlink_to(target)
        value = f"link-{target.name}"

    def change(manifest):
        if key in ("items", "captions"):
            manifest[key] = value
        else:
            _, side, field = key.split(".")
            manifest["embeddings"][0][side][field] = value

    set_manifest(root, change)
    errors = refused(root, snapshot, imported_once)
    assert (errors[0].file, errors[0].line, errors[0].column) == ("pairrate.json", None, key)
    reason = {"absolute": "is absolute", "dotdot": "contains '..'", "symlink": "resolves outside the bundle"}[form]
    assert reason in errors[0].message


def test_symlinked_manifest_is_refused(make_bundle, imported_once, snapshot, outside):
    root = make_bundle("csv")
    (outside / "pairrate.json").write_text((root / "pairrate.json").read_text())
    (root / "pairrate.json").unlink()
    (root / "pairrate.json").symlink_to(outside / "pairrate.json")
    errors = refused(root, snapshot, imported_once)
    assert errors[0].file == "pairrate.json" and "resolves outside the bundle" in errors[0].message


@pytest.mark.parametrize("link", ["file", "folder"])
def test_symlinked_media_pointing_outside_is_refused(make_bundle, imported_once, snapshot, outside, link):
    root = make_bundle("csv")
    if link == "file":
        (root / "media" / "img1.jpg").unlink()
        (root / "media" / "img1.jpg").symlink_to(outside / "photo.jpg")
        line, shown = 3, "media/img1.jpg"
    else:
        (root / "elsewhere").symlink_to(outside, target_is_directory=True)
        (root / "items.csv").write_text(
            (root / "items.csv").read_text().replace("media/img0.jpg", "elsewhere/photo.jpg")
        )
        line, shown = 2, "elsewhere/photo.jpg"
    errors = refused(root, snapshot, imported_once)
    assert (errors[0].file, errors[0].line, errors[0].column) == ("items.csv", line, "media")
    assert f"path {shown!r} resolves outside the bundle" in errors[0].message


def test_symlinked_media_inside_the_bundle_is_copied(make_bundle, media_root):
    root = make_bundle("csv")
    (root / "media" / "img1.jpg").unlink()
    (root / "media" / "img1.jpg").symlink_to(root / "media" / "img0.jpg")
    import_bundle(root)
    assert (media_root / "datasets/demo-set/media/img1.jpg").read_bytes() == b"jpeg bytes 0"


@pytest.mark.parametrize(
    "media", ["/etc/passwd", "../secret.jpg", "images/../../secret.jpg", "file:///etc/passwd", "a\\..\\..\\b.jpg"]
)
def test_remote_media_paths_must_stay_in_media_storage(make_bundle, imported_once, snapshot, media):
    root = make_bundle("csv", manifest={"media": "remote"})
    (root / "items.csv").write_text((root / "items.csv").read_text().replace("media/img1.jpg", media))
    errors = refused(root, snapshot, imported_once)
    assert (errors[0].file, errors[0].line, errors[0].column) == ("items.csv", 3, "media")
    assert errors[0].message.startswith("remote media path") and repr(media) in errors[0].message


def test_remote_media_urls_and_relative_paths_are_kept(make_bundle):
    root = make_bundle("csv", manifest={"media": "remote"})
    text = (root / "items.csv").read_text().replace("media/img0.jpg", "https://cdn.example/a.jpg")
    (root / "items.csv").write_text(text.replace("media/img1.jpg", "s3://bucket/b.jpg"))
    import_bundle(root)
    assert dict(Item.objects.values_list("external_id", "media")) == {
        "img0": "https://cdn.example/a.jpg",
        "img1": "s3://bucket/b.jpg",
        "img2": "",
        "img3": "",
    }


def test_emm1_infos_table_symlinked_outside_is_refused(tmp_path, snapshot, outside):
    before = snapshot()
    infos = tmp_path / "release" / "infos"
    infos.mkdir(parents=True)
    (outside / "image.csv").write_text(
        f"encord_image_id,source_dataset,dataset_license,file_name,save_folder\n{SECRET},coco,CC0,a.jpg,img\n"
    )
    (infos / "image.csv").symlink_to(outside / "image.csv")
    errors = refused(tmp_path / "release", snapshot, before)
    assert errors[0].file == "infos/image.csv" and "resolves outside the bundle" in errors[0].message


def test_emm1_remote_media_with_dotdot_is_refused(tmp_path, snapshot):
    before = snapshot()
    infos = tmp_path / "release" / "infos"
    infos.mkdir(parents=True)
    (infos / "image.csv").write_text(
        "encord_image_id,source_dataset,dataset_license,file_name,save_folder\n"
        "im0,coco,CC0,a.jpg,images\nim1,coco,CC0,passwd,../../etc\n"
    )
    with pytest.raises(BundleError) as info:
        import_bundle(tmp_path / "release")
    error = info.value.errors[0]
    assert (error.file, error.line, error.column) == ("infos/image.csv", 3, "file_name")
    assert "'../../etc/passwd' contains '..'" in error.message
    assert snapshot() == before
