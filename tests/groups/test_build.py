"""Groups builds end to end on PostgreSQL + Redis + real Celery worker processes."""
from __future__ import annotations

import numpy as np
import pytest

from annotation.groups import create_build, iter_chunks, iter_groups, runner
from annotation.models import Caption, GroupsBuild

from .conftest import SPACES, brute_force, four_spaces, wait_settled

pytestmark = pytest.mark.django_db(transaction=True)


def build_groups(spaces=None, k=5, **fields) -> GroupsBuild:
    build = create_build(["groupset"], spaces or four_spaces(), k=k, **fields)
    runner.start(build.pk)
    return build


def test_build_over_four_spaces_equals_brute_force(imported_groups, settings):
    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 10
    settings.PAIRRATE_GROUPS_ITEM_CHUNK_ROWS = 7
    build = wait_settled(build_groups(k=5))
    assert build.state == "succeeded", build.error
    assert build.modalities == ["video", "audio", "image", "point_cloud"]
    # the video space lacks two captions: the pool is the captions with a vector in every space
    assert build.counts["captions"] == 43 and build.counts["caption_chunks"] == 5
    assert build.parts.filter(state="pending").count() == 0
    chunks = list(iter_chunks(build))
    caption_ids = np.concatenate([c.caption_ids for c in chunks])
    external = dict(Caption.objects.values_list("pk", "external_id"))
    names = [external[i] for i in caption_ids.tolist()]
    assert names == [f"cap{i:03d}" for i in range(43)]
    for space, (modality, *_rest) in SPACES.items():
        expected_ids, expected_scores = brute_force(imported_groups, space, names, 5)
        ids = np.concatenate([c.items[modality][0] for c in chunks])
        scores = np.concatenate([c.items[modality][1] for c in chunks])
        assert (ids == expected_ids).all(), modality
        np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    rows = list(iter_groups(build))
    assert len(rows) == 43 * 4 * 5 and rows[0][:3] == (caption_ids[0], "video", 1)
