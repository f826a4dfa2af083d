"""Where a groups build keeps its files: storage names under `groups/<build id>/`.

`plan/` (the caption pool and each modality's item pool as (id, shard, row) tables,
memory-mapped by the parts), `parts/` (one `.npz` per search part), `chunks/` (one `.npz`
per merged caption chunk) and `out-<token>/` (the exported files, published whole). Every
file goes through annotation.storage (the media root, or the bucket), written atomically:
a killed writer never leaves a complete-looking file, and a redone part writes the same
file again. Any worker reads what another wrote (its cached copy, on the object store).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.conf import settings

from .. import storage


def folder_name(build_id: int) -> str:
    return f"groups/{int(build_id)}"


def folder(build_id: int) -> Path:
    """The build's folder under the local media root: where the local backend keeps it
    (for tests and tools that look at the files; the code goes by folder_name)."""
    return Path(settings.MEDIA_ROOT) / folder_name(build_id)


def plan_path(build_id: int, name: str) -> str:
    return f"{folder_name(build_id)}/plan/{name}.npy"


def part_path(build_id: int, modality: str, caption_chunk: int, item_chunk: int) -> str:
    return f"{folder_name(build_id)}/parts/{modality}-{caption_chunk:06d}-{item_chunk:06d}.npz"


def chunk_path(build_id: int, caption_chunk: int) -> str:
    return f"{folder_name(build_id)}/chunks/{caption_chunk:06d}.npz"


def exists(name: str) -> bool:
    return storage.exists(name)


def save_npy(name: str, array: np.ndarray) -> None:
    """No fsync, as for pipeline artifacts: work files are redone, not recovered."""
    with storage.writing(name) as temp, open(temp, "wb") as out:
        np.save(out, np.ascontiguousarray(array))


def load_npy(name: str) -> np.ndarray:
    """Memory-mapped: a part reads only its own slice."""
    return np.load(storage.local_path(name), mmap_mode="r", allow_pickle=False)


def save_npz(name: str, **arrays: np.ndarray) -> None:
    with storage.writing(name) as temp, open(temp, "wb") as out:
        np.savez(out, **arrays)


def load_npz(name: str) -> dict[str, np.ndarray]:
    with np.load(storage.local_path(name), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def remove_parts(build_id: int) -> None:
    storage.delete_folder(f"{folder_name(build_id)}/parts")


def clear(build_id: int, keep_output: bool = False) -> None:
    """Remove the build's work files (all of them, or all but the output folder)."""
    root = folder_name(build_id)
    for name in ("plan", "parts", "chunks") if keep_output else ("",):
        storage.delete_folder(f"{root}/{name}" if name else root)
