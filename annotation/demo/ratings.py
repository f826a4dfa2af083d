"""SIMULATED ratings for a demo project, so its dashboard and the insights have data.

Nobody rated these pairs: three simulated annotators (`simulated1..3`, labelled as such in
the demo's output and docs/demo.md) rate part of the project through the real workflow
(claim, submit, consensus), from a documented, seeded rule:

- the truth of a candidate: `good` when it is the caption's own paired item (a COCO
  photo and one of its captions); otherwise `good` with probability
  sigmoid(12 (z - 0.45)), z the candidate's similarity as a rank position among the
  project's candidates (0 = least similar, 1 = most), and `partial` or `bad` with equal
  chance when not good;
- each simulated annotator reports the truth with probability 0.95, else a uniformly
  random label; `simulated3` turns random after its first DRIFT_AFTER tasks (so the drift
  flag has something to find);
- each rates at most TASKS_EACH tasks, so tasks are left for the human demo logins;
  the submissions are spread SPACING_S apart, ending now (a throughput history).

Everything draws from numpy's default_rng(project.seed): the same project gets the same
ratings. Re-running does nothing once the simulated annotators have rated.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.contrib.auth.models import User
from django.utils import timezone
from scipy.special import expit

from ..models import Assignment, Project, ProjectMember, TaskCandidate
from ..rating import claim
from ..rating.submit import Submission, submit

LABELS = np.array(["bad", "partial", "good"])
SIMULATED = ("simulated1", "simulated2", "simulated3")
TASKS_EACH = 40
DRIFT_AFTER = 15
HONEST_P = 0.95
SPACING_S = 90.0


def truth(project: Project, rng: np.random.Generator) -> dict[int, str]:
    rows = list(
        TaskCandidate.objects.filter(task__project=project)
        .order_by("pk")
        .values_list("pk", "similarity", "item_id", "task__caption__paired_item_id")
    )
    if not rows:
        return {}
    ids, similarity, item, paired = (np.array(column) for column in zip(*rows))
    z = np.argsort(np.argsort(similarity)) / max(len(rows) - 1, 1)
    good = (item == paired) | (rng.random(len(rows)) < expit(12 * (z - 0.45)))
    partial = rng.random(len(rows)) < 0.5
    return {int(i): ("good" if g else "partial" if p else "bad") for i, g, p in zip(ids, good, partial)}


def _report(name: str, task_index: int, true_label: str, rng: np.random.Generator) -> str:
    careless = name == SIMULATED[-1] and task_index >= DRIFT_AFTER
    if careless or rng.random() >= HONEST_P:
        return str(rng.choice(LABELS))
    return true_label


def simulate(project: Project) -> int:
    """Rate `project` as the simulated annotators; returns the tasks they submitted (0 when
    they already have)."""
    users = {}
    for name in SIMULATED:
        user, created = User.objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()  # nobody logs in as a simulation
            user.save()
        ProjectMember.objects.get_or_create(project=project, user=user)
        users[name] = user
    if Assignment.objects.filter(project=project, annotator__in=users.values()).exists():
        return 0
    rng = np.random.default_rng(int(project.seed))
    labels_of = truth(project, rng)
    done = dict.fromkeys(SIMULATED, 0)
    active = list(SIMULATED)
    while active:
        for name in list(active):
            assignment = claim.next_assignment(project, users[name]) if done[name] < TASKS_EACH else None
            if assignment is None:
                active.remove(name)
                continue
            candidates = assignment.task.candidates.order_by("slot").values_list("pk", flat=True)
            labels = {c: _report(name, done[name], labels_of[c], rng) for c in candidates}
            submit(assignment.pk, users[name], Submission(labels, [], 4.0 + float(rng.random()) * 8))
            done[name] += 1
    submitted = list(
        Assignment.objects.filter(project=project, annotator__in=users.values(), state=Assignment.State.SUBMITTED)
        .order_by("submitted_at", "pk")
        .values_list("pk", flat=True)
    )
    start = timezone.now() - dt.timedelta(seconds=SPACING_S * len(submitted))
    for index, pk in enumerate(submitted):
        Assignment.objects.filter(pk=pk).update(submitted_at=start + dt.timedelta(seconds=SPACING_S * index))
    return len(submitted)
