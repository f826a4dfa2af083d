"""Validate embedding files and write them as unit-length float32 shards.

Streams in row chunks from a memory-mapped `.npy`, so a 1M x 512 file never sits in
RAM twice, into shard pieces of at most PAIRRATE_SHARD_ROWS rows each. Rejects wrong dimensions, NaN/inf, zero vectors and id/row mismatches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .rows import VectorFile
from .errors import BundleError, RowError

CHUNK_ROWS = 65536
ROW_EXAMPLES = 5  # bad rows named one by one per file and kind; the count covers them all
UNIT_TOLERANCE = 1e-6
Progress = Callable[[str, int, int], None]


@dataclass
class ShardPiece:
    """Rows [first, first + rows) of a vector file, written as one shard file in staging."""

    path: Path
    relative: str  # where commit puts it (a storage name)
    first: int
    rows: int
    sha256: str = ""


@dataclass
class PreparedShard:
    """One checked vector file, normalised into shard pieces of at most `piece_rows` rows
    (so a task reading a few rows fetches only the pieces holding them)."""

    ids: list[str]
    pieces: list[ShardPiece]

    @property
    def rows(self) -> int:
        return len(self.ids)


Place = Callable[[int, int], tuple[Path, str]]  # (piece index, pieces) -> (staged path, storage name)


def read_ids(vector_file: VectorFile) -> list[str]:
    try:
        text = vector_file.ids.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = vector_file.ids.read_bytes().count(b"\n", 0, exc.start) + 1
        raise BundleError([RowError(vector_file.ids_name, line, None, "not valid UTF-8")]) from None
    ids = text.split("\n")
    if ids and ids[-1] == "":
        ids.pop()
    seen: dict[str, int] = {}
    errors = []
    for line, external_id in enumerate(ids, start=1):
        external_id = external_id.strip()
        if not external_id:
            errors.append(RowError(vector_file.ids_name, line, None, "empty id"))
        elif external_id in seen:
            errors.append(
                RowError(
                    vector_file.ids_name,
                    line,
                    None,
                    f"duplicate id {external_id!r} (first on line {seen[external_id]})",
                )
            )
        seen.setdefault(external_id, line)
    if errors:
        raise BundleError(errors)
    return [i.strip() for i in ids]


def open_matrix(vector_file: VectorFile) -> np.ndarray:
    try:
        matrix = np.load(vector_file.vectors, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError on corrupt files
        raise BundleError(
            [RowError(vector_file.vectors_name, None, None, f"not a readable .npy file: {exc}")]
        ) from None
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        shape = getattr(matrix, "shape", None)
        raise BundleError(
            [RowError(vector_file.vectors_name, None, None, f"expected a 2-d matrix (rows x dim), found shape {shape}")]
        )
    if not np.issubdtype(matrix.dtype, np.floating):
        raise BundleError(
            [
                RowError(
                    vector_file.vectors_name, None, None, f"expected floating-point vectors, found dtype {matrix.dtype}"
                )
            ]
        )
    return matrix


def prepare_shard(
    vector_file: VectorFile, dim: int, place: Place, piece_rows: int, progress: Progress | None = None
) -> PreparedShard:
    """Check one ids/vectors pair completely and write its normalised shard pieces (of at
    most `piece_rows` rows each, paths from `place`). Raises one BundleError with every
    problem of the pair: id errors, shape errors, and per-file counts of NaN/infinity and
    zero rows (the first few rows of each named)."""
    errors: list[RowError] = []
    ids = matrix = None
    try:
        ids = read_ids(vector_file)
    except BundleError as exc:
        errors.extend(exc.errors)
    try:
        matrix = open_matrix(vector_file)
    except BundleError as exc:
        errors.extend(exc.errors)
    name = vector_file.vectors_name
    if matrix is not None and matrix.shape[1] != dim:
        errors.append(RowError(name, None, "dim", f"vectors have dimension {matrix.shape[1]}, the space expects {dim}"))
        matrix = None  # rows of another model: their values say nothing useful
    if matrix is not None and ids is not None and matrix.shape[0] != len(ids):
        errors.append(
            RowError(name, None, None, f"{matrix.shape[0]} vectors but {len(ids)} ids in {vector_file.ids_name}")
        )
    if matrix is None:
        raise BundleError(errors)
    total, piece_rows = matrix.shape[0], max(1, int(piece_rows))
    count = max(1, -(-total // piece_rows))
    pieces = []
    bad_rows = {"NaN or infinity": [], "a zero vector": []}
    bad_counts = dict.fromkeys(bad_rows, 0)
    for index in range(count):
        path, relative = place(index, count)
        first = index * piece_rows
        piece = ShardPiece(path, relative, first, min(piece_rows, total - first))
        path.parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(piece.rows, matrix.shape[1]))
        for start in range(first, first + piece.rows, CHUNK_ROWS):
            chunk = np.asarray(matrix[start : min(start + CHUNK_ROWS, first + piece.rows)], dtype=np.float32)
            finite = np.isfinite(chunk).all(axis=1)
            norms = np.linalg.norm(np.where(finite[:, None], chunk, 0), axis=1, keepdims=True)
            for kind, bad in (("NaN or infinity", ~finite), ("a zero vector", finite & (norms[:, 0] == 0))):
                if bad.any():
                    bad_counts[kind] += int(bad.sum())
                    room = ROW_EXAMPLES - len(bad_rows[kind])
                    bad_rows[kind].extend((start + np.flatnonzero(bad)[: max(room, 0)]).tolist())
            # Rows already of unit length are kept bit for bit (an export re-imports unchanged).
            norms = np.where(np.abs(norms - 1) <= UNIT_TOLERANCE, 1, np.where(norms == 0, 1, norms))
            out[start - first : start - first + len(chunk)] = chunk / norms
            if progress:
                progress(f"vectors {name}", start + len(chunk), total)
        out.flush()
        del out
        pieces.append(piece)
    for kind, rows in bad_rows.items():
        if not bad_counts[kind]:
            continue
        errors.append(
            RowError(
                name,
                rows[0] + 1,
                None,
                f"{bad_counts[kind]} of {matrix.shape[0]} rows hold {kind} "
                f"(first: rows {', '.join(str(r + 1) for r in rows)})",
            )
        )
        for row in rows:
            shown = f" (id {ids[row]!r})" if ids is not None and row < len(ids) else ""
            errors.append(RowError(name, row + 1, None, f"row {row + 1}{shown} holds {kind}"))
    if errors:
        raise BundleError(errors)
    for piece in pieces:
        piece.sha256 = file_sha256(piece.path)
    return PreparedShard(ids, pieces)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
