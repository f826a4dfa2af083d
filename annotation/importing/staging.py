"""All-or-nothing writes to media storage.

An import stages every file it will write under MEDIA_ROOT/.staging/<run>/, moves them
into place only at the end of the database transaction, and puts everything back
(overwritten files restored, new folders removed) if anything fails.
"""
from __future__ import annotations

import filecmp
import os
import shutil
import uuid
from pathlib import Path

from ..media_paths import confined


class MediaStaging:
    def __init__(self, media_root: Path):
        self.media_root = Path(os.path.realpath(media_root))  # paths below are resolved ones
        self.dir = self.media_root / ".staging" / uuid.uuid4().hex
        self._pending: list[tuple[Path, Path]] = []  # (staged file, final path)
        self._placed: list[Path] = []
        self._backups: list[tuple[Path, Path]] = []  # (backup, original path)
        self._new_dirs: list[Path] = []

    def path_for(self, relative: str) -> Path:
        """A staged path that `commit` will move to MEDIA_ROOT/relative."""
        final = confined(self.media_root, relative)  # never a write outside media storage
        staged = self.dir / "files" / relative
        staged.parent.mkdir(parents=True, exist_ok=True)
        self._pending.append((staged, final))
        return staged

    def stage_copy(self, source: Path, relative: str) -> bool:
        """Stage a copy of `source`; skip it when storage already holds the same bytes."""
        final = confined(self.media_root, relative)
        if final.is_file() and filecmp.cmp(source, final, shallow=False):
            return False
        shutil.copyfile(source, self.path_for(relative))
        return True

    def commit(self) -> None:
        for staged, final in self._pending:
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
