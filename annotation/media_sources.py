"""Which item media values pairrate reads itself, and which it only links to.

A media value is a path in storage, or a remote URL (media_paths.is_remote_url). http(s)
media are never downloaded: annotators' browsers fetch them. `s3://bucket/key` media are
read in place (through the storage cache, never copied into storage) when the object
store backend is configured, since its credentials reach the bucket; otherwise they are
remote like any URL.
"""

from __future__ import annotations

from . import storage
from .media_paths import is_remote_url, remote_schemes


def in_bucket(media: str) -> bool:
    """An s3:// value (media referenced in place in a bucket)."""
    return is_remote_url(media) and media.lower().startswith("s3://")


def read_in_place(media: str) -> bool:
    """Media in a bucket that this process reads through the object store."""
    return in_bucket(media) and storage.is_object_store()


def is_remote(media: str) -> bool:
    """A URL this process does not read (http(s), and s3 without the object store)."""
    return is_remote_url(media) and not read_in_place(media)


def unread_schemes() -> tuple[str, ...]:
    """The remote schemes whose media this process does not read (for queries)."""
    read = ("s3",) if storage.is_object_store() else ()
    return tuple(scheme for scheme in remote_schemes() if scheme.lower() not in read)
