"""Stage outputs as `.npz` files in media storage, written atomically.

A worker killed mid-write leaves a temp file, never a complete-looking artifact; a
redelivered stage simply writes the same file again.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from django.conf import settings


def folder(project_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "pipeline" / str(project_id)


def path(project_id: int, name: str) -> Path:
    return folder(project_id) / f"{name}.npz"


def save(project_id: int, name: str, **arrays) -> Path:
    target = path(project_id, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def load(project_id: int, name: str) -> dict[str, np.ndarray]:
    with np.load(path(project_id, name), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def exists(project_id: int, name: str) -> bool:
    return path(project_id, name).is_file()


def clear(project_id: int) -> None:
    shutil.rmtree(folder(project_id), ignore_errors=True)
