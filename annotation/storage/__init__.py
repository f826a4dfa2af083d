"""Where pairrate keeps its files: the local media root, or an S3-compatible bucket.

Everything pairrate writes or reads as files (imported media, vector shards, stage
artifacts, renders, posters, previews, waveforms, exports, uploads) goes through the one
store `get_store()` returns, chosen by PAIRRATE_STORAGE_URL (config.py). Names are
relative paths (checked by media_paths.check_relative, confined on a file system).

    path = storage.local_path(name)          # a local file: the file itself, or a cached copy
    with storage.writing(name) as temp:      # fill temp; published atomically when the block ends
        np.save(temp, matrix)
    with storage.writing_folder(name) as d:  # the same for a folder of files
    storage.file_response(name, filename)    # to a browser: streamed, or a presigned redirect

With the object store, web and worker processes share nothing but the bucket: each has its
own MEDIA_ROOT as scratch space and its own cache (PAIRRATE_STORAGE_CACHE_DIR/_BYTES).
"""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from ..media_paths import is_remote_url
from .config import StorageConfig, current
from .exceptions import StorageError, StorageUnavailable
from .local import LocalStore

__all__ = [
    "StorageError",
    "StorageUnavailable",
    "get_store",
    "local_path",
    "local_media",
    "writing",
    "writing_folder",
    "publish",
    "fetch",
    "exists",
    "delete",
    "delete_folder",
    "list_folder",
    "file_response",
    "media_url_seconds",
    "is_object_store",
]

_lock = threading.Lock()
_stores: dict[StorageConfig, object] = {}


def get_store():
    """The store for the current settings (tests that override settings get their own)."""
    config = current()
    store = _stores.get(config)
    if store is None:
        with _lock:
            store = _stores.get(config)
            if store is None:
                if config.kind == "local":
                    store = LocalStore(config.media_root)
                else:
                    from .s3 import ObjectStore

                    store = ObjectStore(config)
                _stores[config] = store
    return store


def is_object_store() -> bool:
    return get_store().kind == "s3"


def media_url_seconds() -> int:
    """How long a media or download link lives: the same rule for signed and presigned URLs."""
    return int(getattr(settings, "PAIRRATE_MEDIA_URL_SECONDS", 3600))


def local_path(name: str) -> Path:
    return get_store().local_path(name)


def local_media(media: str) -> Path:
    """A local file for an item's media value: a storage name, or media referenced in place in
    a bucket (s3://...), read through the cache without being copied into storage. Raises
    ValueError for http(s) media, which pairrate never downloads."""
    if is_remote_url(media):
        store = get_store()
        if media.lower().startswith("s3://") and store.kind == "s3":
            return store.local_path_for_url(media)
        raise ValueError(f"remote media {media!r} is not read by this server")
    return local_path(media)


def writing(name: str):
    return get_store().writing(name)


def writing_folder(name: str, checksums: dict | None = None):
    return get_store().writing_folder(name, checksums)


def publish(local: Path, name: str, sha256: str = "", cache: bool = True) -> None:
    get_store().publish(Path(local), name, sha256, cache=cache)


def fetch(name: str, target: Path) -> None:
    """Download (or copy) `name` to a local file of the caller's, not through the cache."""
    get_store().fetch(name, Path(target))


def exists(name: str) -> bool:
    return get_store().exists(name)


def delete(name: str) -> None:
    get_store().delete(name)


def delete_folder(name: str) -> None:
    get_store().delete_folder(name)


def list_folder(name: str) -> list[str]:
    return get_store().list_folder(name)


def file_response(name: str, filename: str = "", attachment: bool = True):
    """A download for an authorised request: streamed from the media root, or a redirect to a
    presigned URL living media_url_seconds()."""
    return get_store().file_response(name, filename, attachment, media_url_seconds())
