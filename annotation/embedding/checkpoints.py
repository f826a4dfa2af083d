"""Where encoder checkpoints may be read from, and one loaded encoder per worker process."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from django.conf import settings

from .exceptions import EmbedError

_cache: dict[tuple, object] = {}
_lock = threading.Lock()


def confined_checkpoint(path: str) -> Path:
    """The checkpoint folder, resolved (symlinks included) under one of PAIRRATE_ENCODER_ROOTS.

    An admin names a folder on the workers; it must lie under a configured root so a space
    cannot make a worker read arbitrary server paths."""
    if not path or "\x00" in path:
        raise EmbedError("checkpoint folder is empty", "checkpoint")
    target = Path(os.path.realpath(path))
    for root in settings.PAIRRATE_ENCODER_ROOTS:
        base = Path(os.path.realpath(root))
        if target == base or base in target.parents:
            return target
    roots = ", ".join(str(r) for r in settings.PAIRRATE_ENCODER_ROOTS)
    raise EmbedError(
        f"checkpoint folder {path!r} is not under an allowed encoder root ({roots}); set PAIRRATE_ENCODER_ROOTS",
        "checkpoint",
    )


def encoder_for(space, batch_size: int | None = None):
    """The space's encoder, loaded once per worker process and reused by its parts.

    `batch_size` is the run's (fixed when it was planned), so every worker cuts the same batches."""
    from sampling.encoders import load_encoder

    folder = confined_checkpoint(space.encoder_path)
    batch_size = batch_size or settings.PAIRRATE_EMBED_BATCH
    key = (space.encoder_family, str(folder), batch_size, settings.PAIRRATE_EMBED_DEVICE)
    with _lock:
        if key not in _cache:
            _cache.clear()  # one model resident at a time: a GPU worker's memory is for one
            _cache[key] = load_encoder(
                space.encoder_family,
                folder,
                device=settings.PAIRRATE_EMBED_DEVICE,
                batch_size=batch_size,
                threads=settings.PAIRRATE_EMBED_THREADS,
            )
        return _cache[key]


def forget() -> None:
    """Drop cached encoders (tests that rewrite a checkpoint folder in place)."""
    with _lock:
        _cache.clear()
