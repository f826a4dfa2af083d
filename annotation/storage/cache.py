"""A size-bounded local disk cache of objects, shared by every process of one machine.

Workers read objects (vector shards, media, artifacts) through it: an object is downloaded
once per version (its ETag) into `root`, then opened or memory-mapped from there. When the
cache grows past `max_bytes` the least recently used entries go (an entry in use stays
readable: on Linux an unlinked file lives on while it is open or mapped). Hits, misses and
bytes fetched are counted in `root/.stats.json`, so every process's reads add up and the
worker's `storage_cache` inspect command (tasks/celery_app.py) can report them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

logger = logging.getLogger("pairrate.storage")
COUNTERS = ("hits", "misses", "bytes_fetched", "evictions")


class DiskCache:
    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = int(max_bytes)

    def entry(self, key: str, version: str) -> Path:
        """root/ab/<key hash>-<version hash>/<basename>: the basename keeps the suffix that
        readers such as trimesh go by."""
        key_hash = hashlib.sha256(key.encode()).hexdigest()
        version_hash = hashlib.sha256(version.encode()).hexdigest()[:12]
        return self.root / key_hash[:2] / f"{key_hash[:24]}-{version_hash}" / Path(key).name

    def get(self, key: str, version: str, size: int, download: Callable[[Path], None]) -> Path:
        """The cached file of (key, version), downloading it with `download(temp)` on a miss."""
        path = self.entry(key, version)
        if path.is_file():
            os.utime(path)  # recently used
            self._count(hits=1)
            logger.debug("storage cache hit", extra={"key": key})
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(path.parent / ".lock"):  # one download per entry, whoever asks
            if path.is_file():
                self._count(hits=1)
                return path
            started = time.perf_counter()
            self._make_room(size, keep=path.parent)
            handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
            os.close(handle)
            try:
                download(Path(temp))
                os.replace(temp, path)
            finally:
                Path(temp).unlink(missing_ok=True)
        self._drop_other_versions(path.parent)
        self._count(misses=1, bytes_fetched=size)
        logger.info(
            "storage cache miss", extra={"key": key, "bytes": size, "seconds": round(time.perf_counter() - started, 3)}
        )
        return path

    def adopt(self, key: str, version: str, local: Path) -> None:
        """Keep a file this process just uploaded as the cached copy of (key, version)."""
        path = self.entry(key, version)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._make_room(local.stat().st_size, keep=path.parent)
            os.replace(local, path)
        except OSError:
            return  # another file system, or gone: the next read downloads it
        self._drop_other_versions(path.parent)

    def stats(self) -> dict:
        counters = self._read_counters()
        entries, used = 0, 0
        for _, size, _ in self._entries():
            entries += 1
            used += size
        return {
            "backend": "s3",
            "cache_dir": str(self.root),
            "max_bytes": self.max_bytes,
            "bytes_cached": used,
            "entries": entries,
            **counters,
        }

    # -- internals ---------------------------------------------------------------------

    def _entries(self):
        """(entry folder, bytes, last use) of every cached object."""
        if not self.root.is_dir():
            return
        for bucket_dir in os.scandir(self.root):
            if not bucket_dir.is_dir():
                continue
            for entry_dir in os.scandir(bucket_dir.path):
                if not entry_dir.is_dir():
                    continue
                for item in os.scandir(entry_dir.path):
                    if item.is_file() and not item.name.startswith("."):
                        stat = item.stat()
                        yield Path(entry_dir.path), stat.st_size, stat.st_mtime

    def _make_room(self, incoming: int, keep: Path) -> None:
        entries = sorted(self._entries(), key=lambda e: e[2])
        used = sum(size for _, size, _ in entries)
        evicted = 0
        for folder, size, _ in entries:
            if used + incoming <= self.max_bytes:
                break
            if folder == keep:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            used -= size
            evicted += 1
        if evicted:
            self._count(evictions=evicted)
            logger.info("storage cache evicted", extra={"entries": evicted, "bytes_cached": used})

    def _drop_other_versions(self, current: Path) -> None:
        stem = current.name.rsplit("-", 1)[0]
        for sibling in current.parent.glob(f"{stem}-*"):
            if sibling != current:
                shutil.rmtree(sibling, ignore_errors=True)

    @contextmanager
    def _locked(self, path: Path):
        with open(path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_counters(self) -> dict:
        try:
            data = json.loads((self.root / ".stats.json").read_text())
        except (OSError, ValueError):
            data = {}
        return {name: int(data.get(name, 0)) for name in COUNTERS}

    def _count(self, **increments: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked(self.root / ".stats.lock"):
            counters = self._read_counters()
            for name, value in increments.items():
                counters[name] += value
            temp = self.root / f".stats.{os.getpid()}.tmp"
            temp.write_text(json.dumps(counters))
            os.replace(temp, self.root / ".stats.json")
