"""Unpack a bundle archive (.zip, .tar, .tar.gz) on the worker, within limits.

Every member is checked before a byte is written: regular files and folders only (links,
devices and FIFOs are refused with their own message), names confined to the target folder
(no absolute paths or `..`: zip-slip), at most PAIRRATE_ARCHIVE_MAX_MEMBERS members. While
writing, the uncompressed bytes are counted: more than PAIRRATE_ARCHIVE_MAX_BYTES in all, or
more than PAIRRATE_ARCHIVE_MAX_RATIO times the archive's own size, stops the extraction
(whatever the headers claim). On any refusal the partial folder is removed.
"""

from __future__ import annotations

import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

from django.conf import settings

from ..media_paths import UnsafeMediaPath, check_relative

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
BLOCK = 1 << 20


class ArchiveError(ValueError):
    """The archive is refused; nothing of it is left on disk."""


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def archive_stem(name: str) -> str:
    """`release-2024.tar.gz` -> `release-2024`, as a slug: the folder an archive is unpacked
    into, so an E-MM1 archive without a top folder still gets a sensible default dataset name."""
    lowered = name.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if lowered.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return re.sub(r"[^-a-zA-Z0-9_]", "_", name)[:100].strip("_") or "bundle"


def limits() -> tuple[int, int, float]:
    """(members, uncompressed bytes, ratio): pairrate/settings.py holds the defaults."""
    return (
        int(settings.PAIRRATE_ARCHIVE_MAX_MEMBERS),
        int(settings.PAIRRATE_ARCHIVE_MAX_BYTES),
        float(settings.PAIRRATE_ARCHIVE_MAX_RATIO),
    )


def extract_archive(archive: Path, target: Path) -> Path:
    """Extract `archive` into the new folder `target`; return the bundle folder inside it
    (the archive's single top folder, if that is all it holds)."""
    if not is_archive(archive.name):
        raise ArchiveError(f"{archive.name}: not a .zip, .tar or .tar.gz bundle")
    target.mkdir(parents=True)
    try:
        counter = _Counter(archive.stat().st_size)
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, target, counter)
        else:
            _extract_tar(archive, target, counter)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        if isinstance(exc, ArchiveError):
            raise
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc  # no server paths
        raise ArchiveError(f"corrupt archive: {reason}") from None
    entries = list(target.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target


class _Counter:
    """Members and uncompressed bytes so far, against the limits."""

    def __init__(self, archive_size: int):
        self.max_members, self.max_bytes, self.max_ratio = limits()
        self.archive_size = max(archive_size, 1)
        self.members = 0
        self.bytes = 0

    def member(self) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise ArchiveError(f"the archive has more than {self.max_members} members (PAIRRATE_ARCHIVE_MAX_MEMBERS)")

    def add(self, count: int) -> None:
        self.bytes += count
        if self.bytes > self.max_bytes:
            raise ArchiveError(f"the archive expands to more than {self.max_bytes} bytes (PAIRRATE_ARCHIVE_MAX_BYTES)")
        if self.bytes > self.max_ratio * self.archive_size:
            raise ArchiveError(
                f"the archive expands to more than {self.max_ratio:g} times its size of "
                f"{self.archive_size} bytes (PAIRRATE_ARCHIVE_MAX_RATIO): refused as a "
                "decompression bomb"
            )


def _destination(target: Path, name: str) -> Path | None:
    """Where a member goes (None for the archive's own "./"); zip-slip (absolute names, `..`)
    refused."""
    if name in (".", "./"):
        return None
    try:
        relative = check_relative(name.rstrip("/") or name, "archive member", "the bundle folder")
    except UnsafeMediaPath as exc:
        raise ArchiveError(str(exc)) from None
    return target.joinpath(*relative.parts)


def _kind(mode: int) -> str | None:
    """What a member is when it is neither a file nor a folder."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "a FIFO or socket"
    return None


def _refuse_kind(name: str, kind: str) -> None:
    raise ArchiveError(
        f"archive member {name!r} is {kind}: links and special files are not allowed in "
        "bundles (archive the files themselves)"
    )


def _copy(source, destination: Path, name: str, counter: _Counter) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        out = open(destination, "xb")  # "x": a repeated name cannot overwrite a written file
    except (FileExistsError, IsADirectoryError):
        raise ArchiveError(f"archive member {name!r} appears twice") from None
    with out:
        while block := source.read(BLOCK):
            counter.add(len(block))
            out.write(block)


def _extract_zip(archive: Path, target: Path, counter: _Counter) -> None:
    with zipfile.ZipFile(archive) as bundle:
        infos = bundle.infolist()
        for info in infos:  # every header is checked before anything is written
            counter.member()
            kind = _kind(info.external_attr >> 16)
            if kind:
                _refuse_kind(info.filename, kind)
            _destination(target, info.filename)
        counter.add(sum(info.file_size for info in infos))  # what the headers claim, first
        counter.bytes = 0
        for info in infos:
            destination = _destination(target, info.filename)
            if destination is None or info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            with bundle.open(info) as source:
                _copy(source, destination, info.filename, counter)


def _extract_tar(archive: Path, target: Path, counter: _Counter) -> None:
    with tarfile.open(archive, "r:*") as bundle:
        for member in bundle:  # streamed: a member is checked before it is written
            counter.member()
            if member.issym() or member.islnk():
                _refuse_kind(member.name, "a symbolic link" if member.issym() else "a hard link")
            if not (member.isfile() or member.isdir()):
                _refuse_kind(
                    member.name,
                    "a device file"
                    if member.isdev() and not member.isfifo()
                    else "a FIFO or socket"
                    if member.isfifo()
                    else "not a regular file",
                )
            destination = _destination(target, member.name)
            if destination is None or member.isdir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            _copy(bundle.extractfile(member), destination, member.name, counter)
