"""The optional explicit-media check while screening: photos and video first frames scored by
the packaged open_nsfw model; items at or over the threshold fail screening (and so are left
out of matching), with the score in the reason."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path

import numpy as np
import pytest

from annotation.models import Dataset, Item

pytestmark = pytest.mark.django_db

COCO = Path(__file__).resolve().parents[3] / "shared" / "data" / "coco-val2017-mini" / "images"


def screen(dataset):
    from annotation.screening import runs

    return runs.run_here(runs.start(dataset, queue=False))


def test_explicit_media_check_fails_items_over_the_threshold(media_root, media_cases, settings):
    """A video is judged by its first frame (the poster annotators see first)."""
    from sampling.nsfw_media import MediaScorer

    photos = sorted(Path(p) for p in glob.glob(str(COCO / "*.jpg")))[:8]
    dataset = Dataset.objects.create(name="photos")
    (media_root / "p").mkdir()
    for i, photo in enumerate(photos):
        shutil.copy(photo, media_root / "p" / photo.name)
        Item.objects.create(dataset=dataset, external_id=f"photo{i}", modality="image", media=f"p/{photo.name}")
    clip = media_cases["bikes"][1]
    shutil.copy(clip, media_root / "p" / "bikes.mp4")
    Item.objects.create(dataset=dataset, external_id="bikes", modality="video", media="p/bikes.mp4")
    truth, _ = MediaScorer().score_files([str(p) for p in photos])
    assert np.isfinite(truth).all()
    # A threshold between the real photos' scores, so both outcomes happen on real images.
    threshold = float(np.sort(truth)[len(truth) // 2])

    screen(dataset)  # the check is off by default: every photo passes
    assert set(dataset.items.values_list("screen_status", flat=True)) == {"ok"}

    settings.PAIRRATE_SCREEN_EXPLICIT_MEDIA = True
    settings.PAIRRATE_SCREEN_EXPLICIT_THRESHOLD = threshold
    screen(dataset)
    items = {i.external_id: i for i in dataset.items.all()}
    for i, score in enumerate(truth):
        item = items[f"photo{i}"]
        if score >= threshold:
            assert item.screen_status == "failed" and f"open_nsfw {score:.2f}" in item.screen_reason
        else:
            assert item.screen_status == "ok", (score, item.screen_reason)
    assert sum(i.screen_status == "failed" for i in items.values() if i.modality == "image") >= 1
    from annotation.screening.runs import _first_frame

    frame_score = MediaScorer().score_files([str(_first_frame(clip, media_root / "frame.jpg"))])[0][0]
    assert items["bikes"].screen_status == ("failed" if frame_score >= threshold else "ok")

    settings.PAIRRATE_SCREEN_EXPLICIT_THRESHOLD = 1.01  # nothing can reach it: all pass again
    screen(dataset)
    assert set(dataset.items.values_list("screen_status", flat=True)) == {"ok"}
