"""Defence in depth: whatever a stored media value says, code that opens media storage
(signed media URLs, the media stage) stays inside MEDIA_ROOT."""

from __future__ import annotations

import numpy as np
import pytest
from django.test import Client

from annotation.media_paths import UnsafeMediaPath, check_media_value, is_remote_url, local_media_path
from annotation.media_urls import signed_url
from annotation.models import Dataset, Item
from annotation.pipeline import artifacts, stages
from tests.export.builders import new_project

SECRET = b"TOPSECRET-outside-media"


@pytest.fixture
def outside_file(tmp_path):
    path = tmp_path / "outside.wav"
    path.write_bytes(SECRET)
    return path


@pytest.mark.parametrize(
    "value",
    ["/etc/passwd", "../x.jpg", "a/../../x.jpg", "a\x00b", "", ".", "file:///etc/passwd", "ftp://host/x", "a\\b"],
)
def test_local_media_path_refuses_escapes(value):
    with pytest.raises(UnsafeMediaPath):
        local_media_path(value)
    with pytest.raises(UnsafeMediaPath):
        check_media_value(value)


def test_local_media_path_refuses_symlinks_out(media_root, outside_file):
    (media_root / "clips").mkdir()
    (media_root / "clips" / "a.wav").symlink_to(outside_file)
    with pytest.raises(UnsafeMediaPath, match="resolves outside the media root"):
        local_media_path("clips/a.wav")
    (media_root / "clips" / "b.wav").write_bytes(b"inside")
    (media_root / "clips" / "c.wav").symlink_to(media_root / "clips" / "b.wav")
    assert local_media_path("clips/c.wav") == (media_root / "clips" / "b.wav").resolve()


def test_remote_url_schemes():
    assert is_remote_url("https://cdn.example/a.jpg") and is_remote_url("s3://bucket/a.jpg")
    assert not is_remote_url("file:///etc/passwd") and not is_remote_url("http:/no-host")


@pytest.mark.django_db
@pytest.mark.parametrize("media", ["../outside.wav", "link.wav"])
def test_signed_url_never_serves_outside_media_storage(media_root, outside_file, media):
    (media_root / "link.wav").symlink_to(outside_file)
    (media_root / "inside.wav").write_bytes(b"inside")
    client = Client()
    assert client.get(signed_url(media)).status_code == 404
    response = client.get(signed_url("inside.wav"))
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"inside"


@pytest.mark.django_db
def test_media_stage_counts_unsafe_media_and_never_opens_them(media_root, outside_file):
    """Rows written around the importer (admin, SQL) with escaping media: not decoded."""
    (media_root / "link.wav").symlink_to(outside_file)
    dataset = Dataset.objects.create(name="raw")
    items = [
        Item.objects.create(dataset=dataset, external_id=f"a{i}", modality="audio", media=media)
        for i, media in enumerate(
            [
                str(outside_file),
                "../" * 8 + str(outside_file)[1:],
                "link.wav",
                "https://cdn.example/a.wav",
                "missing.wav",
            ]
        )
    ]
    project = new_project("stage", 1, "audio")
    artifacts.save(
        project.id,
        "media-parts",
        items=np.array([i.id for i in items], np.int64),
        starts=np.array([0, len(items)], np.int64),
        modalities=np.array([2], np.int64),
    )
    counts = stages.media_part(project, 0, lambda fraction: None)
    assert counts == {"modality": "audio", "items": 5, "remote": 1, "missing": 1, "unsafe": 3, "made": 0}
    assert not (media_root / "waveforms").exists()


@pytest.mark.django_db
def test_import_never_writes_through_a_link_out_of_media_storage(make_bundle, media_root, tmp_path):
    """A folder in media storage that links elsewhere is not written through."""
    from annotation.importing import import_bundle

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (media_root / "datasets").mkdir()
    (media_root / "datasets" / "demo-set").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafeMediaPath):
        import_bundle(make_bundle("csv"))
    assert not any(elsewhere.iterdir()) and not Dataset.objects.exists()
