"""Where a groups build keeps its files, each written atomically.

`groups/<build id>/` in media storage holds `plan/` (the caption pool and each
modality's item pool as (id, shard, row) tables, memory-mapped by the parts),
`parts/` (one `.npz` per search part), `chunks/` (one `.npz` per merged caption
chunk) and `out/` (the exported files, moved into place whole). A killed writer
leaves only a `.tmp-*` file; a redone part
writes the same file again.
"""
from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from django.conf import settings

from ..export.writer import TEMP_PREFIX


def folder(build_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "groups" / str(build_id)


def plan_path(build_id: int, name: str) -> Path:
    return folder(build_id) / "plan" / f"{name}.npy"


def part_path(build_id: int, modality: str, caption_chunk: int, item_chunk: int) -> Path:
    return folder(build_id) / "parts" / f"{modality}-{caption_chunk:06d}-{item_chunk:06d}.npz"


def chunk_path(build_id: int, caption_chunk: int) -> Path:
    return folder(build_id) / "chunks" / f"{caption_chunk:06d}.npz"


@contextmanager
def _atomic(path: Path):
    """A temp file renamed into place: a killed process never leaves a complete-looking
    file. (No fsync, as for pipeline artifacts: work files are redone, not recovered.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        with open(temp, "wb") as out:
            yield out
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def save_npy(path: Path, array: np.ndarray) -> None:
    with _atomic(path) as out:
        np.save(out, np.ascontiguousarray(array))


def load_npy(path: Path) -> np.ndarray:
    """Memory-mapped: a part reads only its own slice."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    with _atomic(path) as out:
        np.savez(out, **arrays)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def clear(build_id: int, keep_output: bool = False) -> None:
    """Remove the build's work files (all of them, or all but `out/`)."""
    root = folder(build_id)
    for name in ("plan", "parts", "chunks") if keep_output else ("",):
        shutil.rmtree(root / name if name else root, ignore_errors=True)
