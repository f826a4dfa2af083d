"""Stage outputs as `.npz` files in storage (the media root, or the bucket), written atomically.

A worker killed mid-write leaves at most a temp file, never a complete-looking artifact; a
redelivered stage simply writes the same file again. Any worker may read what another wrote:
with the object store, `local_path` gives this machine's cached copy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import storage


def folder(project_id: int) -> str:
    return f"pipeline/{int(project_id)}"


def name_of(project_id: int, name: str) -> str:
    return f"{folder(project_id)}/{name}.npz"


def path(project_id: int, name: str) -> Path:
    """A readable local file of the artifact: the file itself, or this machine's cached copy
    of the object (a new file per written version, so its mtime tells versions apart)."""
    return storage.local_path(name_of(project_id, name))


def save(project_id: int, name: str, **arrays) -> str:
    target = name_of(project_id, name)
    with storage.writing(target) as temp:
        with open(temp, "wb") as stream:
            np.savez(stream, **arrays)
    return target


def load(project_id: int, name: str) -> dict[str, np.ndarray]:
    with np.load(path(project_id, name), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def exists(project_id: int, name: str) -> bool:
    return storage.exists(name_of(project_id, name))


def clear(project_id: int) -> None:
    storage.delete_folder(folder(project_id))
