"""Launched projects (the real pipeline stages, run in-process) rated through the real
workflow by simulated annotators with a known P(good | similarity)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from scipy.special import expit

from annotation.rating import claim, submit
from annotation.models import Assignment, Dataset, EmbeddingSpace, Project, ProjectMember, TaskCandidate
from tests.pipeline.conftest import dataset_bundle  # noqa: F401  (fixture)

LABELS = np.array(["bad", "partial", "good"])


def run_stages(project: Project) -> Project:
    """The launch stages up to create_tasks, in this process (the worker tests cover the
    queueing; these tests need the stages' output). Image media are URLs: no media stage."""
    from annotation.pipeline import stages

    def report(_):
        return None

    stages.curate(project, report)
    stages.filter_captions(project, report)
    parts = stages.match_parts(project)
    for part in parts:
        stages.match_part(project, part.index, report)
    stages.match_merge(project, len(parts))
    stages.deduplicate(project, report)
    stages.create_tasks(project, report)
    Project.objects.filter(pk=project.pk).update(state=Project.State.READY)
    project.refresh_from_db()
    return project


@pytest.fixture
def imported_bundle(dataset_bundle):  # noqa: F811
    from annotation.importing import import_bundle

    import_bundle(dataset_bundle)
    return dataset_bundle


@pytest.fixture
def launched(imported_bundle):
    def make(name: str = "insights", **fields) -> Project:
        space = EmbeddingSpace.objects.get(name="t-image")
        defaults = {
            "target_modality": "image",
            "sample_size": 60,
            "item_cap": 8,
            "seed": 3,
            "k": 16,
            "nsfw_backend": "none",
            "caption_source_modalities": ["image"],
        }
        project = Project.objects.create(name=name, space=space, **{**defaults, **fields})
        project.caption_datasets.set(Dataset.objects.filter(name="launchset"))
        return run_stages(project)

    return make


def truth_labels(project: Project, seed: int = 0) -> dict[int, str]:
    """A known truth per candidate: good with P = sigmoid(8 * (z - 0.3)), z the
    similarity's rank-normalised position in the project (0..1), partial or bad otherwise."""
    rows = list(TaskCandidate.objects.filter(task__project=project).order_by("pk").values_list("pk", "similarity"))
    ids = np.array([r[0] for r in rows])
    similarity = np.array([r[1] for r in rows])
    z = np.argsort(np.argsort(similarity)) / max(len(rows) - 1, 1)
    rng = np.random.default_rng(seed)
    good = rng.random(len(rows)) < expit(8 * (z - 0.3))
    partial = rng.random(len(rows)) < 0.5
    return {int(i): ("good" if g else "partial" if p else "bad") for i, g, p in zip(ids, good, partial)}


def rate(
    project: Project,
    behaviour: dict[str, callable],
    seed: int = 0,
    start=None,
    spacing_s: float = 60.0,
    password: str | None = None,
) -> None:
    """Each annotator (username -> f(task_index, true_label, rng) -> label) rates what the
    workflow serves them, round-robin; submissions are then spread `spacing_s` apart from
    `start` (default: hours ago), so time windows and throughput have a history."""
    truth = truth_labels(project, seed)
    users = {}
    for name in behaviour:
        user, _ = get_user_model().objects.get_or_create(username=name)
        if password:
            user.set_password(password)
            user.save()
        ProjectMember.objects.get_or_create(project=project, user=user)
        users[name] = user
    rng = np.random.default_rng(seed + 1)
    done = {name: 0 for name in behaviour}
    active = list(behaviour)
    while active:
        for name in list(active):
            assignment = claim.next_assignment(project, users[name])
            if assignment is None:
                active.remove(name)
                continue
            candidates = list(assignment.task.candidates.order_by("slot").values_list("pk", flat=True))
            labels = {c: behaviour[name](done[name], truth[c], rng) for c in candidates}
            submit.submit(assignment.pk, users[name], submit.Submission(labels, [], 4.0 + rng.random() * 4))
            done[name] += 1
    submitted = list(
        Assignment.objects.filter(project=project, state=Assignment.State.SUBMITTED)
        .order_by("submitted_at", "pk")
        .values_list("pk", flat=True)
    )
    start = start or timezone.now() - dt.timedelta(seconds=spacing_s * (len(submitted) + 1))
    for index, pk in enumerate(submitted):
        Assignment.objects.filter(pk=pk).update(submitted_at=start + dt.timedelta(seconds=spacing_s * index))


def honest(task_index, true_label, rng):
    return true_label


def random_after(n):
    def label(task_index, true_label, rng):
        return true_label if task_index < n else str(rng.choice(LABELS))

    return label
