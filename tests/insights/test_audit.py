"""The audit share: a fraction of tasks whose candidates are drawn uniformly from the
caption's top-k instead of the de-duplicated choice (annotation/pipeline/stages.py)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from rest_framework.test import APIClient

from annotation.models import Dataset, EmbeddingSpace, Project, Task, TaskCandidate
from annotation.pipeline import artifacts
from tests.annotation.workflow_setup import make_user

pytestmark = pytest.mark.django_db


def candidates(project, audit: bool):
    return list(
        TaskCandidate.objects.filter(task__project=project, task__is_audit=audit).values_list(
            "task__caption_id", "item_id", "retrieval_rank", "similarity", "slot"
        )
    )


def test_audit_tasks_draw_uniformly_from_the_top_k_and_the_rest_stay_deduplicated(launched):
    project = launched("audited", audit_share=0.5)
    tasks = Task.objects.filter(project=project)
    assert tasks.count() == 60 and tasks.filter(is_audit=True).count() == 30

    match = artifacts.load(project.id, "match")
    row = {int(c): i for i, c in enumerate(match["caption_ids"])}
    audit, chosen = candidates(project, True), candidates(project, False)
    for caption, item, rank, similarity, _ in audit + chosen:  # rank and similarity are the match's own
        assert match["item_ids"][row[caption], rank] == item
        assert similarity == pytest.approx(float(match["scores"][row[caption], rank]), abs=1e-5)
    audit_ranks = np.array([c[2] for c in audit])
    chosen_ranks = np.array([c[2] for c in chosen])
    assert audit_ranks.max() >= 10 and audit_ranks.mean() > chosen_ranks.mean() + 2  # the whole top-16
    assert len(set(audit_ranks.tolist())) >= 12
    assert max(Counter(c[1] for c in chosen).values()) <= project.item_cap  # the cap still holds for the rest
    for caption in {c[0] for c in audit}:  # slots follow rank order within a task
        mine = sorted((c[4], c[2]) for c in audit if c[0] == caption)
        assert [r for _, r in mine] == sorted(r for _, r in mine)

    again = launched("audited-again", audit_share=0.5)  # same seed: the same draw
    assert sorted(candidates(again, True)) == sorted(audit)


def test_no_audit_share_leaves_the_deduplicated_choice_unchanged(launched):
    plain = launched("plain")
    assert not Task.objects.filter(project=plain, is_audit=True).exists()
    ranks = [c[2] for c in candidates(plain, False)]
    assert np.mean(ranks) < 3


@pytest.mark.parametrize("value", [1.5, -0.1, "half"])
def test_an_audit_share_outside_0_1_is_refused_and_nothing_is_stored(value):
    admin = make_user("admin", staff=True)
    dataset = Dataset.objects.create(name="ds")
    space = EmbeddingSpace.objects.create(name="s", model_name="toy", dim=4, target_modality="image")
    client = APIClient()
    client.force_authenticate(admin)
    body = {
        "name": "p",
        "target_modality": "image",
        "space": space.pk,
        "caption_datasets": [dataset.pk],
        "sample_size": 5,
        "item_cap": 5,
        "audit_share": value,
    }
    response = client.post("/api/projects/", body, format="json")
    assert response.status_code == 400
    assert "audit_share" in str(response.json())
    assert not Project.objects.exists()
