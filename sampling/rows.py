"""Row-chunked access to big (possibly memory-mapped) [N, d] arrays.

Lets k-means and retrieval stream millions of rows through a device without
loading the whole file; on a GPU with room to spare the chunks are cached there
after the first pass, since later passes would otherwise re-read the file.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

CACHE_FRACTION_OF_FREE_GPU_MEMORY = 0.5


def as_float32_rows(data) -> np.ndarray:
    """Validate a 2-D array without copying memory maps."""
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"expected a 2-D array of row vectors, got shape {data.shape}")
    return data


def check_finite(data: np.ndarray, name: str, chunk_rows: int = 1 << 16) -> None:
    """Raise ValueError on NaN/inf, scanning memory maps chunk by chunk."""
    for start in range(0, data.shape[0], chunk_rows):
        if not np.isfinite(data[start : start + chunk_rows]).all():
            raise ValueError(f"{name} contains NaN or inf values")


def to_tensor(rows: np.ndarray, device: torch.device) -> torch.Tensor:
    array = np.ascontiguousarray(rows, dtype=np.float32)
    tensor = torch.from_numpy(array)
    return tensor if device.type == "cpu" else tensor.to(device, non_blocking=True)


class RowChunks:
    """Iterate `(start, float32 tensor on device)` over row chunks of `data`."""

    def __init__(self, data: np.ndarray, device: torch.device, chunk_rows: int):
        self.data = as_float32_rows(data)
        self.device = device
        self.chunk_rows = max(1, int(chunk_rows))
        self._cache: list[torch.Tensor] | None = None
        self._cacheable = device.type == "cuda" and self._fits_on_gpu()

    def _fits_on_gpu(self) -> bool:
        free_bytes, _ = torch.cuda.mem_get_info(self.device)
        # blocks torch's caching allocator holds but no tensor uses are free to us too
        free_bytes += torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        return self.data.shape[0] * self.data.shape[1] * 4 < CACHE_FRACTION_OF_FREE_GPU_MEMORY * free_bytes

    def __len__(self) -> int:
        return self.data.shape[0]

    def __iter__(self) -> Iterator[tuple[int, torch.Tensor]]:
        if self._cache is not None:
            yield from zip(range(0, len(self), self.chunk_rows), self._cache)
            return
        chunks = []
        for start in range(0, len(self), self.chunk_rows):
            chunk = to_tensor(self.data[start : start + self.chunk_rows], self.device)
            if self._cacheable:
                chunks.append(chunk)
            yield start, chunk
        if self._cacheable:
            self._cache = chunks
