"""File helpers shared by the curate/match/dedup subcommands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def load_rows(path: str) -> np.ndarray:
    """A 2-D .npy file, memory-mapped so that big files are read chunk by chunk."""
    array = np.load(path, mmap_mode="r")
    if array.ndim != 2:
        raise SystemExit(f"{path}: expected a 2-D array of embeddings, got shape {array.shape}")
    return array


def write_json(path: str, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def save_npy(path: str, array: np.ndarray) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


def add_device_flag(parser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]")
