"""Writing export files so that only a finished file ever has its final name.

An export is written (streamed) to a hidden local `.tmp-*` file, flushed to disk,
checksummed, then published through annotation.storage: moved into place with
`os.replace` on the local backend (the temp lies beside the target), a multipart upload
on the object store (the temp lies in this process's scratch folder; the object appears
only once the upload completes). A crash leaves at most a `.tmp-*` file, which the next
attempt removes. `atomic_file` does the same for a path the user names (commands'
`--output`, not storage). Multi-file formats are one `.zip` whose members carry a fixed
timestamp, so equal content gives equal bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from .. import storage

TEMP_PREFIX = ".tmp-"
BUFFER_BYTES = 1 << 20
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """Yield a temporary path; on success it becomes `final`, on any error it is removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f"{TEMP_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}")
    try:
        yield temp
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def staging_folder(name: str) -> Path:
    """Where the temp file of storage `name` is written: beside the target locally (so
    publishing is a rename), else a folder of its own in this process's scratch space."""
    store = storage.get_store()
    if store.kind == "local":
        return store.path(name).parent
    store.key(name)  # refuse a bad name before any work
    return Path(store.scratch) / PurePosixPath(name).parent


@contextmanager
def staged_file(name: str) -> Iterator[Path]:
    """A local temp file for storage `name`, removed when the block ends (published or not)."""
    folder = staging_folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f"{TEMP_PREFIX}{PurePosixPath(name).name}-{uuid.uuid4().hex[:8]}"
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def publish_file(temp: Path, name: str) -> tuple[str, int]:
    """Flush, checksum and publish a finished temp file as storage `name`: (sha256, bytes).
    Not kept in this machine's cache: an export is downloaded from the bucket, not read here."""
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    sha256, size = sha256_of(temp), temp.stat().st_size
    storage.publish(temp, name, sha256, cache=False)
    return sha256, size


def remove_partials(folder: Path) -> int:
    """Delete what crashed attempts left in an export folder."""
    removed = 0
    if folder.is_dir():
        for leftover in folder.glob(f"{TEMP_PREFIX}*"):
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(BUFFER_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def open_text(path: Path):
    return open(path, "w", encoding="utf-8", newline="", buffering=BUFFER_BYTES)


def open_binary(path: Path):
    return open(path, "wb", buffering=BUFFER_BYTES)


@contextmanager
def zip_binary_member(archive: zipfile.ZipFile, name: str) -> Iterator[io.BufferedWriter]:
    """A byte stream into one deflated member with a fixed timestamp."""
    with archive.open(_member_info(name), "w", force_zip64=True) as raw:
        out = io.BufferedWriter(raw, BUFFER_BYTES)
        try:
            yield out
        finally:
            out.flush()


@contextmanager
def zip_text_member(archive: zipfile.ZipFile, name: str) -> Iterator[io.TextIOWrapper]:
    """A UTF-8 text stream into one deflated member with a fixed timestamp."""
    with archive.open(_member_info(name), "w", force_zip64=True) as raw:
        text = io.TextIOWrapper(io.BufferedWriter(raw, BUFFER_BYTES), encoding="utf-8", newline="")
        try:
            yield text
        finally:
            text.flush()
            text.detach().flush()


def _member_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info
