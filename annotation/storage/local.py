"""The embedded default: files in one local folder (settings.MEDIA_ROOT).

Every name is confined to the folder (media_paths.confined); writes go to a temp file or
folder beside the target and are moved into place with os.replace, so a killed writer never
leaves a complete-looking file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from django.http import FileResponse

from ..media_paths import confined


class LocalStore:
    kind = "local"

    def __init__(self, root: Path):
        self.root = Path(root)

    def describe(self) -> str:
        return f"local folder {self.root}"

    def path(self, name: str) -> Path:
        return confined(self.root, name)

    def local_path(self, name: str) -> Path:
        """The file itself (FileNotFoundError when opened, if it is not there)."""
        return self.path(name)

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def size(self, name: str) -> int:
        return self.path(name).stat().st_size

    def list_folder(self, name: str) -> list[str]:
        """Names of the files under folder `name` (recursive, sorted); [] when absent."""
        folder = self.path(name)
        if not folder.is_dir():
            return []
        return sorted(
            f"{name}/{p.relative_to(folder).as_posix()}"
            for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        final = self.path(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.stem}-", suffix=final.suffix)
        os.close(handle)
        try:
            yield Path(temp)
            os.replace(temp, final)
        finally:
            Path(temp).unlink(missing_ok=True)

    @contextmanager
    def writing_folder(self, name: str, checksums: dict | None = None) -> Iterator[Path]:
        """`checksums` is for object stores (kept with each object); here nothing is hashed."""
        final = self.path(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}-{uuid.uuid4().hex[:12]}")
        temp.mkdir()
        old = None
        try:
            yield temp
            if final.exists():
                old = final.with_name(f".{final.name}-old-{uuid.uuid4().hex[:12]}")
                os.replace(final, old)
            os.replace(temp, final)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)

    def publish(self, local: Path, name: str, sha256: str = "", cache: bool = True) -> None:
        """Move a finished local file into place (a copy when it lies on another file system;
        there is no cache here, so `cache` changes nothing)."""
        final = self.path(name)
        if Path(os.path.realpath(local)) == final:
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(local, final)
        except OSError:  # another file system: copy beside the target, then replace
            with self.writing(name) as temp:
                shutil.copyfile(local, temp)
            Path(local).unlink(missing_ok=True)

    def fetch(self, name: str, target: Path) -> None:
        """Copy `name` to `target` (FileNotFoundError when it is not there)."""
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path(name), target)

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def delete_folder(self, name: str) -> None:
        shutil.rmtree(self.path(name), ignore_errors=True)

    def open_read(self, name: str):
        return open(self.path(name), "rb")

    def sha256(self, name: str) -> str:
        """'' (not kept as metadata on a file system: callers hash the bytes)."""
        return ""

    def file_response(self, name: str, filename: str = "", attachment: bool = False, seconds: int = 0):
        """The file streamed by this process (the web process reads the same folder)."""
        return FileResponse(open(self.path(name), "rb"), as_attachment=attachment, filename=filename or Path(name).name)

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def cache_stats(self) -> dict:
        return {"backend": "local"}
