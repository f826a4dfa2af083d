"""Rated projects built with the ORM plus the workflow's own consensus code.

`build_world` (the `world` fixture) holds two projects over one dataset:
- "three" (3 annotators, majority, adjudicate): six tasks of two candidates, with every
  consensus state, three modality pairs and one gold pair;
- "single" (1 annotator): two tasks, state `single`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.rating import consensus
from annotation.models import (
    Assignment,
    Caption,
    Dataset,
    EmbeddingSpace,
    GoldPair,
    Item,
    PairResult,
    Project,
    Rating,
    Task,
    TaskCandidate,
)
from django.utils import timezone


def make_users(*names, staff=False):
    model = get_user_model()
    return [model.objects.create_user(username=name, is_staff=staff) for name in names]


def new_project(name: str, per_task: int, modality: str = "image", **fields) -> Project:
    space, _ = EmbeddingSpace.objects.get_or_create(
        name=f"space-{modality}", defaults={"model_name": "toy", "dim": 4, "target_modality": modality}
    )
    return Project.objects.create(
        name=name,
        target_modality=modality,
        space=space,
        sample_size=10,
        item_cap=10,
        candidates_per_task=2,
        annotators_per_task=per_task,
        state="ready",
        **fields,
    )


def add_task(project: Project, caption: Caption, items: list[Item], position: int) -> Task:
    task = Task.objects.create(project=project, caption=caption, paired_item=caption.paired_item, position=position)
    TaskCandidate.objects.bulk_create(
        [
            TaskCandidate(task=task, item=item, slot=slot, retrieval_rank=slot, similarity=0.9 - slot / 10)
            for slot, item in enumerate(items)
        ]
    )
    return task


def rate(project: Project, task: Task, votes: dict) -> None:
    """votes: annotator -> one label per candidate slot; then the workflow's consensus, in
    one transaction as a submit does."""
    with transaction.atomic():
        _rate(project, task, votes)


def _rate(project: Project, task: Task, votes: dict) -> None:
    now = timezone.now()
    candidates = list(task.candidates.order_by("slot"))
    for annotator, labels in votes.items():
        assignment = Assignment.objects.create(
            project=project,
            task=task,
            annotator=annotator,
            state=Assignment.State.SUBMITTED,
            leased_at=now,
            leased_until=now,
            submitted_at=now,
        )
        Rating.objects.bulk_create(
            [Rating(assignment=assignment, candidate=c, label=label) for c, label in zip(candidates, labels)]
        )
    task.rating_count = task.assignments.filter(state=Assignment.State.SUBMITTED).count()
    task.save(update_fields=["rating_count"])
    consensus.update_task(project, task)


@dataclass
class World:
    three: Project
    single: Project
    annotators: list
    items: dict = field(default_factory=dict)
    captions: dict = field(default_factory=dict)

    def candidate(self, project: Project, caption: str, slot: int) -> TaskCandidate:
        return TaskCandidate.objects.get(task__project=project, task__caption__external_id=caption, slot=slot)

    def result(self, project: Project, caption: str, slot: int) -> PairResult:
        return PairResult.objects.get(candidate=self.candidate(project, caption, slot))


def build_world() -> World:
    dataset = Dataset.objects.create(name="ds")
    specs = [
        ("img0", "image", "coco"),
        ("img1", "image", "coco"),
        ("img2", "image", "flickr"),
        ("img3", "image", "flickr"),
        ("aud0", "audio", "audiocaps"),
        ("aud1", "audio", "audiocaps"),
    ]
    items = {
        name: Item.objects.create(
            dataset=dataset,
            modality=modality,
            external_id=name,
            media=f"media/{source}/{name}.bin",
            source_dataset=source,
            license="CC BY 4.0",
            metadata={"note": name},
        )
        for name, modality, source in specs
    }
    caption_specs = [
        ("cap0", "image", "img0", "coco"),
        ("cap1", "image", "img1", "coco"),
        ("cap2", "audio", "aud0", "audiocaps"),
        ("cap3", "audio", "aud1", "audiocaps"),
        ("cap4", "image", "img2", "flickr"),
        ("cap5", "image", "img3", "flickr"),
    ]
    captions = {
        name: Caption.objects.create(
            dataset=dataset,
            external_id=name,
            text=f"text of {name}",
            source_modality=modality,
            paired_item=items[paired],
            source_dataset=source,
            license="CC BY 2.0",
        )
        for name, modality, paired, source in caption_specs
    }
    a, b, c, d = make_users("ann-a", "ann-b", "ann-c", "ann-d")
    three = new_project("three", 3)
    single = new_project("single", 1)
    tasks = [
        add_task(three, captions[name], [items[x], items[y]], i)
        for i, (name, x, y) in enumerate(
            [
                ("cap0", "img0", "img1"),
                ("cap1", "img1", "img2"),
                ("cap2", "img2", "img3"),
                ("cap3", "img3", "img0"),
                ("cap4", "img2", "img0"),
                ("cap5", "img3", "img1"),
            ]
        )
    ]
    rate(three, tasks[0], {a: ["good", "bad"], b: ["good", "bad"], c: ["good", "bad"]})  # agreed good / bad
    rate(three, tasks[1], {a: ["good", "partial"], b: ["good", "partial"], c: ["bad", "partial"]})
    rate(three, tasks[2], {a: ["good", "good"], b: ["partial", "good"], c: ["bad", "good"]})  # contested / good
    rate(three, tasks[3], {a: ["bad", "partial"], b: ["partial", "partial"], c: ["good", "bad"]})
    rate(three, tasks[4], {a: ["good", "bad"], b: ["bad", "bad"], c: ["bad", "bad"]})
    # tasks[5] is unrated: no results, never exported.
    contested = PairResult.objects.get(task=tasks[3], candidate__slot=0)
    consensus.adjudicate(contested.pk, three, None, "partial")
    GoldPair.objects.create(project=three, candidate=tasks[0].candidates.get(slot=0), label="good")
    single_tasks = [
        add_task(single, captions["cap0"], [items["img1"], items["img2"]], 0),
        add_task(single, captions["cap2"], [items["aud0"], items["aud1"]], 1),
    ]
    rate(single, single_tasks[0], {d: ["good", "bad"]})
    rate(single, single_tasks[1], {d: ["partial", "good"]})
    return World(three, single, [a, b, c, d], items, captions)
