"""All-or-nothing writes to media storage.

An import stages every file it will write on local disk under MEDIA_ROOT/.staging/<run>/
and publishes them only at the end of the database transaction, putting everything back
if anything fails. On the local backend (MediaStaging) files are moved into place with
os.replace (overwritten files restored, new folders removed); on the object store
(ObjectStaging) they are uploaded, an object that existed being first copied server-side
to a backup key under `.staging/<run>/` (restored on rollback; new keys deleted).
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
import uuid
from pathlib import Path

from .. import storage
from ..media_paths import check_relative, confined

logger = logging.getLogger(__name__)


def staging_for(media_root: Path) -> "MediaStaging":
    """The staging that matches the configured storage backend."""
    return ObjectStaging(media_root) if storage.is_object_store() else MediaStaging(media_root)


class MediaStaging:
    def __init__(self, media_root: Path):
        self.media_root = Path(os.path.realpath(media_root))  # paths below are resolved ones
        self.dir = self.media_root / ".staging" / uuid.uuid4().hex
        self._pending: list[tuple[Path, str]] = []  # (staged file, storage name)
        self._placed: list[Path] = []
        self._backups: list[tuple[Path, Path]] = []  # (backup, original path)
        self._new_dirs: list[Path] = []

    def check_name(self, relative: str) -> None:
        """Never a write outside media storage."""
        confined(self.media_root, relative)

    def path_for(self, relative: str) -> Path:
        """A staged path that `commit` will publish as `relative`."""
        self.check_name(relative)
        staged = self.dir / "files" / relative
        staged.parent.mkdir(parents=True, exist_ok=True)
        self._pending.append((staged, relative))
        return staged

    def stage_copy(self, source: Path, relative: str) -> bool:
        """Stage a copy of `source`; skip it when storage already holds the same bytes."""
        if self.already_stored(source, relative):
            return False
        shutil.copyfile(source, self.path_for(relative))
        return True

    def already_stored(self, source: Path, relative: str) -> bool:
        final = confined(self.media_root, relative)
        return final.is_file() and filecmp.cmp(source, final, shallow=False)

    def known_sha256(self, staged: Path, digest: str) -> None:
        """The checksum of a staged file, when the caller computed it (kept by object stores)."""

    def publish_new(self, staged: Path, relative: str, digest: str) -> None:
        """A staged file with a name new to this import: on a file system, commit moves it."""

    def commit(self) -> None:
        for staged, relative in self._pending:
            final = confined(self.media_root, relative)
            self._make_parent(final)
            if final.exists():
                backup = self.dir / "backup" / final.relative_to(self.media_root)
                backup.parent.mkdir(parents=True, exist_ok=True)
                os.replace(final, backup)
                self._backups.append((backup, final))
            os.replace(staged, final)
            self._placed.append(final)

    def rollback(self) -> None:
        for final in reversed(self._placed):
            final.unlink(missing_ok=True)
        for backup, final in reversed(self._backups):
            os.replace(backup, final)
        for directory in reversed(self._new_dirs):
            shutil.rmtree(directory, ignore_errors=True)
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            (self.media_root / ".staging").rmdir()
        except OSError:
            pass  # not empty: another import is staging

    def _make_parent(self, final: Path) -> None:
        parent = final.parent
        missing_top = None
        while not parent.exists():
            missing_top = parent
            parent = parent.parent
        if missing_top is not None:
            self._new_dirs.append(missing_top)
            final.parent.mkdir(parents=True, exist_ok=True)


class ObjectStaging(MediaStaging):
    """Staging on local scratch, published to the bucket on commit. Objects an import
    replaces are copied to `.staging/<run>/backup/<name>` first, so a failure after some
    uploads puts the old bytes back; a new key is deleted."""

    def __init__(self, media_root: Path):
        super().__init__(media_root)
        self.store = storage.get_store()
        self.backup_prefix = f".staging/{self.dir.name}/backup"
        self._uploaded: list[tuple[str, str]] = []  # (name, backup name or '' for a new key)
        self._backed_up = False
        self._hashes: dict[Path, str] = {}
        self._published_early: set[str] = set()

    def check_name(self, relative: str) -> None:
        check_relative(relative)

    def already_stored(self, source: Path, relative: str) -> bool:
        """The same bytes by the sha256 kept with the object (and its size), no download."""
        from .vectors import file_sha256

        self.check_name(relative)
        try:
            head = self.store.head(relative)
        except FileNotFoundError:
            return False
        kept = head.get("Metadata", {}).get("sha256", "")
        if not kept or int(head["ContentLength"]) != source.stat().st_size:
            return False  # uploaded without a checksum, or other bytes: upload it again
        digest = file_sha256(source)
        self.known_sha256(self.dir / "files" / relative, digest)  # spares hashing it again on upload
        return kept == digest

    def known_sha256(self, staged: Path, digest: str) -> None:
        self._hashes[staged] = digest

    def publish_new(self, staged: Path, relative: str, digest: str) -> None:
        """Upload now a staged file whose name is new to this import (a vector shard: its
        name holds the run), so the upload overlaps the table load instead of following
        it; nothing refers to it before the transaction commits, and rollback deletes it.
        Called from the vector thread, before commit."""
        self.store.publish(staged, relative, digest)
        self._uploaded.append((relative, ""))
        self._published_early.add(relative)

    def commit(self) -> None:
        for staged, relative in self._pending:
            if relative in self._published_early:
                continue
            backup = ""
            if self.store.exists(relative):
                backup = f"{self.backup_prefix}/{relative}"
                self.store.copy(relative, backup)
                self._backed_up = True
            self._uploaded.append((relative, backup))
            self.store.publish(staged, relative, self._hashes.get(staged, ""))

    def rollback(self) -> None:
        for relative, backup in reversed(self._uploaded):
            if backup:
                self.store.copy(backup, relative)
            else:
                self.store.delete(relative)
        self._uploaded.clear()
        self.cleanup()

    def cleanup(self) -> None:
        if self._backed_up:
            try:
                self.store.delete_folder(f".staging/{self.dir.name}")
            except storage.StorageError:  # only backups of a finished import: harmless, logged
                logger.warning("import backups left in storage", extra={"prefix": self.backup_prefix})
        super().cleanup()
