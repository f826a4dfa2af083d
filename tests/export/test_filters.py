"""Each filter takes exactly the pairs it names; bad filter input is refused up front."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.rating.agreement import counts_matrix, raw_agreement
from annotation.export.filters import FilterError, parse_filters
from annotation.export.rows import ExportSource, snapshot
from annotation.models import PairResult


def exported(world, projects=None, **filters) -> set[tuple[str, str, str]]:
    """(project, caption, item) of every exported pair."""
    projects = projects or [world.three]
    source = ExportSource([p.pk for p in projects], parse_filters(filters))
    with snapshot():
        return {(r["project"], r["caption_id"], r["item_id"]) for r in source.rows()}


def three(*pairs):
    return {("three", caption, item) for caption, item in pairs}


def test_default_takes_every_result_and_nothing_unrated(world):
    rows = exported(world)
    assert len(rows) == 10
    assert not {r for r in rows if r[1] == "cap5"}, "the unrated task has no results"


def test_labels(world):
    assert exported(world, labels=["partial"]) == three(("cap1", "img2"), ("cap3", "img3"), ("cap3", "img0"))
    assert len(exported(world, labels=["good", "bad"])) == 6


def test_states(world):
    assert exported(world, states=["contested"]) == three(("cap2", "img2"))
    assert exported(world, states=["adjudicated"]) == three(("cap3", "img3"))
    assert len(exported(world, states=["agreed"])) == 8
    assert len(exported(world, [world.single], states=["single"])) == 4
    assert exported(world, [world.single], states=["agreed"]) == set()


def test_excluded_pairs_are_never_exported(world):
    PairResult.objects.filter(project=world.three, task__caption__external_id="cap4").update(state="excluded")
    assert len(exported(world)) == 8
    with pytest.raises(FilterError):
        parse_filters({"states": ["excluded"]})


def test_modality_pair(world):
    assert exported(world, modality_pairs=["audio->image"]) == three(
        ("cap2", "img2"), ("cap2", "img3"), ("cap3", "img3"), ("cap3", "img0")
    )
    assert {r[2] for r in exported(world, [world.single], modality_pairs=["audio->audio"])} == {"aud0", "aud1"}


def test_source_dataset_matches_caption_or_candidate(world):
    # flickr: captions cap4 (both pairs), plus every pair whose candidate is img2 or img3.
    assert exported(world, source_datasets=["flickr"]) == three(
        ("cap1", "img2"), ("cap2", "img2"), ("cap2", "img3"), ("cap3", "img3"), ("cap4", "img2"), ("cap4", "img0")
    )


def test_date_range(world):
    old = timezone.now() - timedelta(days=10)
    PairResult.objects.filter(task__caption__external_id="cap0").update(updated_at=old)
    day = timezone.localdate(old).isoformat()
    assert exported(world, date_to=day) == three(("cap0", "img0"), ("cap0", "img1"))
    assert exported(world, date_from=day, date_to=day) == three(("cap0", "img0"), ("cap0", "img1"))
    assert len(exported(world, date_from=timezone.localdate(old + timedelta(days=1)).isoformat())) == 8
    assert exported(world, date_to=(old - timedelta(seconds=1)).isoformat()) == set()
    assert len(exported(world, date_to=old.isoformat())) == 2, "a datetime bound includes that moment"


def test_agreement_matches_the_workflow_metric(world):
    source = ExportSource([world.three.pk, world.single.pk], parse_filters({}))
    with snapshot():
        rows = list(source.rows())
    for row in rows:
        labels = [a["label"] for a in row["annotators"]]
        expected = raw_agreement(counts_matrix([labels]))
        assert row["agreement"] == pytest.approx(expected) if expected is not None else row["agreement"] is None
    assert exported(world, min_agreement=1.0) == three(
        ("cap0", "img0"), ("cap0", "img1"), ("cap1", "img2"), ("cap2", "img3"), ("cap4", "img0")
    )
    assert exported(world, max_agreement=0.0) == three(("cap2", "img2"), ("cap3", "img3"))
    assert len(exported(world, min_agreement=0.3, max_agreement=0.4)) == 3
    assert exported(world, [world.single], min_agreement=0.0) == set(), "one annotator carries no agreement"


def test_gold_in_or_out(world):
    assert exported(world, gold="only") == three(("cap0", "img0"))
    assert ("three", "cap0", "img0") not in exported(world, gold="exclude")
    assert len(exported(world, gold="exclude")) == 9


def test_several_projects_together(world):
    rows = exported(world, [world.three, world.single], labels=["good"])
    assert {r[0] for r in rows} == {"three", "single"}
    assert len(rows) == 3 + 2


@pytest.mark.parametrize(
    "filters, key",
    [
        ({"labels": ["great"]}, "labels"),
        ({"states": "maybe"}, "states"),
        ({"modality_pairs": ["image-image"]}, "modality_pairs"),
        ({"modality_pairs": ["image->text"]}, "modality_pairs"),
        ({"source_datasets": ["nowhere"]}, "source_datasets"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to"),
        ({"min_agreement": 1.5}, "min_agreement"),
        ({"min_agreement": 0.8, "max_agreement": 0.2}, "max_agreement"),
        ({"gold": "maybe"}, "gold"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_filters_name_the_key(world, filters, key):
    with pytest.raises(FilterError) as caught:
        parse_filters(filters)
    assert caught.value.key == key
