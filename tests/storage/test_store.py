"""The storage layer on both backends: the local media root and a real S3 API (SeaweedFS)."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pytest

from annotation import storage
from annotation.media_paths import UnsafeMediaPath
from tests.objectstore import SECRET_KEY, client


@pytest.fixture(params=["local", "s3"])
def backend(request):
    if request.param == "s3":
        request.getfixturevalue("object_store")
    return request.param


def test_written_files_read_back_listed_and_deleted(backend):
    with storage.writing("vectors/space/items.npy") as temp:
        np.save(temp, np.arange(12, dtype=np.float32).reshape(3, 4))
    assert storage.exists("vectors/space/items.npy")
    matrix = np.load(storage.local_path("vectors/space/items.npy"), mmap_mode="r")
    assert matrix.tolist() == np.arange(12, dtype=np.float32).reshape(3, 4).tolist()

    with storage.writing_folder("derived/7") as folder:
        (folder / "poster.jpg").write_bytes(b"poster")
        (folder / "views").mkdir()
        (folder / "views" / "0.png").write_bytes(b"view")
    assert storage.list_folder("derived/7") == ["derived/7/poster.jpg", "derived/7/views/0.png"]
    with storage.writing_folder("derived/7") as folder:  # a rewrite replaces the whole folder
        (folder / "poster.jpg").write_bytes(b"poster 2")
    assert storage.list_folder("derived/7") == ["derived/7/poster.jpg"]
    assert storage.local_path("derived/7/poster.jpg").read_bytes() == b"poster 2"

    storage.delete_folder("derived/7")
    storage.delete("vectors/space/items.npy")
    assert storage.list_folder("derived/7") == []
    assert not storage.exists("vectors/space/items.npy")
    with pytest.raises(FileNotFoundError):
        storage.local_path("vectors/space/items.npy").read_bytes()


def test_failed_write_publishes_nothing(backend):
    with pytest.raises(RuntimeError):
        with storage.writing("exports/1/out.csv") as temp:
            temp.write_text("half")
            raise RuntimeError("killed")
    assert not storage.exists("exports/1/out.csv")


@pytest.mark.parametrize("name", ["../outside", "/etc/passwd", "a/../../b", "s3://other/key", "a\\b", ""])
def test_names_that_leave_storage_are_refused(backend, name):
    with pytest.raises(UnsafeMediaPath):
        with storage.writing(name):
            pass
    with pytest.raises(UnsafeMediaPath):
        storage.local_path(name)


def test_object_reads_go_through_a_bounded_cache(object_store, settings):
    store = storage.get_store()
    payload = b"x" * 1000
    for index in range(3):
        with storage.writing(f"shards/{index}.bin") as temp:
            temp.write_bytes(payload)
    cache = store.cache
    for entry in list(cache.root.glob("*/*")):  # forget the writer's copies: read as another machine would
        import shutil

        shutil.rmtree(entry)
    before = cache.stats()
    first = storage.local_path("shards/0.bin")
    again = storage.local_path("shards/0.bin")
    assert first == again and first.read_bytes() == payload
    after = cache.stats()
    assert (after["misses"] - before["misses"], after["hits"] - before["hits"]) == (1, 1)
    assert after["bytes_fetched"] - before["bytes_fetched"] == 1000

    settings.PAIRRATE_STORAGE_CACHE_BYTES = 2500  # room for two objects
    small = storage.get_store().cache
    for index in range(3):
        storage.local_path(f"shards/{index}.bin")
    stats = small.stats()
    assert stats["bytes_cached"] <= 2500 and stats["evictions"] >= 1


def test_an_object_rewritten_elsewhere_is_read_fresh(object_store):
    with storage.writing("pipeline/1/match.npz") as temp:
        temp.write_bytes(b"first")
    assert storage.local_path("pipeline/1/match.npz").read_bytes() == b"first"
    store = storage.get_store()
    client(object_store["PAIRRATE_S3_ENDPOINT_URL"]).put_object(  # another machine's write
        Bucket=store.bucket, Key=store.key("pipeline/1/match.npz"), Body=b"second"
    )
    assert storage.local_path("pipeline/1/match.npz").read_bytes() == b"second"


def test_downloads_are_presigned_and_expire(object_store, settings):
    with storage.writing("exports/2/pairs.csv") as temp:
        temp.write_text("a,b\n1,2\n")
    response = storage.file_response("exports/2/pairs.csv", "pairs.csv")
    assert response.status_code == 302
    url = response["Location"]
    assert SECRET_KEY not in url
    with urllib.request.urlopen(url) as got:
        assert got.read() == b"a,b\n1,2\n"
        assert "attachment" in got.headers["Content-Disposition"]
    settings.PAIRRATE_MEDIA_URL_SECONDS = 1
    import time

    url = storage.file_response("exports/2/pairs.csv", "pairs.csv")["Location"]
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url)
    assert refused.value.code == 403


def test_media_referenced_in_place_is_read_without_copying(object_store):
    s3 = client(object_store["PAIRRATE_S3_ENDPOINT_URL"])
    key = f"raw-{object_store['prefix']}/cat.jpg"  # outside pairrate's prefix
    s3.put_object(Bucket=object_store["bucket"], Key=key, Body=b"jpeg bytes")
    path = storage.local_media(f"s3://{object_store['bucket']}/{key}")
    assert path.read_bytes() == b"jpeg bytes" and path.name == "cat.jpg"
    assert storage.list_folder("raw") == []  # nothing copied under pairrate's prefix
    with pytest.raises(ValueError):
        storage.local_media("https://example.org/cat.jpg")


def test_unreachable_store_fails_fast_with_a_clear_message(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    settings.PAIRRATE_STORAGE_URL = "s3://bucket/prefix"
    settings.PAIRRATE_S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.PAIRRATE_STORAGE_RETRY_SECONDS = 1.0
    settings.PAIRRATE_STORAGE_CACHE_DIR = tmp_path
    with pytest.raises(storage.StorageUnavailable) as failed:
        storage.get_store().check()
    assert "127.0.0.1:9" in str(failed.value) and "s3://bucket/prefix" in str(failed.value)
    assert SECRET_KEY not in str(failed.value)
    with pytest.raises(storage.StorageUnavailable) as failed:
        storage.local_path("vectors/a.npy")
    assert "did not answer" in str(failed.value) and SECRET_KEY not in str(failed.value)


@pytest.mark.parametrize(
    "url, message",
    [
        ("s3://key:secret@bucket/p", "must not carry credentials"),
        ("gs://bucket/p", "s3://bucket/prefix"),
        ("s3:///p", "names no bucket"),
    ],
)
def test_bad_storage_urls_are_refused_without_echoing_secrets(settings, url, message):
    from django.core.exceptions import ImproperlyConfigured

    settings.PAIRRATE_STORAGE_URL = url
    with pytest.raises(ImproperlyConfigured) as refused:
        storage.get_store()
    assert message in str(refused.value) and "secret" not in str(refused.value)
