"""Builders for the rating-workflow tests: a ready project with tasks, users with tokens."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import (
    Caption,
    CaptionVector,
    Dataset,
    EmbeddingSpace,
    Item,
    ItemVector,
    Project,
    ProjectMember,
    Task,
    TaskCandidate,
    VectorShard,
)


def make_project(
    n_tasks: int = 3,
    candidates: int = 3,
    per_task: int = 3,
    name: str = "p",
    modality: str = "image",
    state: str = "ready",
    **fields,
) -> Project:
    dataset, _ = Dataset.objects.get_or_create(name="ds")
    space, _ = EmbeddingSpace.objects.get_or_create(
        name=f"space-{modality}", defaults={"model_name": "toy", "dim": 4, "target_modality": modality}
    )
    project = Project.objects.create(
        name=name,
        target_modality=modality,
        space=space,
        sample_size=n_tasks,
        item_cap=10,
        candidates_per_task=candidates,
        annotators_per_task=per_task,
        state=state,
        instructions="Rate how well the media matches the caption.",
        **{"k": min(16, n_tasks + candidates), **fields},
    )
    project.caption_datasets.set([dataset])
    items = Item.objects.bulk_create(
        [
            Item(dataset=dataset, modality=modality, external_id=f"{name}-item{i}", media=f"media/{name}-{i}.bin")
            for i in range(n_tasks + candidates)
        ]
    )
    captions = Caption.objects.bulk_create(
        [
            Caption(
                dataset=dataset,
                external_id=f"{name}-cap{t}",
                text=f"caption {t}",
                source_modality="text",
                paired_item=items[t],
            )
            for t in range(n_tasks)
        ]
    )
    # Vector rows (never read: these projects start ready) so project validation sees a pool.
    shards = {
        side: VectorShard.objects.create(space=space, side=side, path=f"vectors/{name}-{side}.npy", rows=0, sha256="")
        for side in ("items", "captions")
    }
    ItemVector.objects.bulk_create(
        [ItemVector(space=space, item=item, shard=shards["items"], row=i) for i, item in enumerate(items)]
    )
    CaptionVector.objects.bulk_create(
        [CaptionVector(space=space, caption=c, shard=shards["captions"], row=i) for i, c in enumerate(captions)]
    )
    tasks = Task.objects.bulk_create(
        [Task(project=project, caption=c, paired_item=c.paired_item, position=t) for t, c in enumerate(captions)]
    )
    TaskCandidate.objects.bulk_create(
        [
            TaskCandidate(task=task, item=items[t + s], slot=s, retrieval_rank=s, similarity=0.5)
            for t, task in enumerate(tasks)
            for s in range(candidates)
        ]
    )
    return project


def make_user(username: str, staff: bool = False, password: str | None = None):
    """No password by default: hashing one costs ~0.5 s; API tests use tokens."""
    return get_user_model().objects.create_user(username=username, password=password, is_staff=staff)


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def join(project: Project, *users) -> None:
    ProjectMember.objects.bulk_create([ProjectMember(project=project, user=u) for u in users])


def next_task(client, project):
    return client.post(f"/api/projects/{project.pk}/assignments/next/")


def rate_all(client, payload: dict, label="good", **extra):
    """Submit `label` (or a list of labels, one per candidate) for an assignment payload."""
    labels = label if isinstance(label, list) else [label] * len(payload["candidates"])
    body = {"ratings": [{"candidate": c["id"], "label": lab} for c, lab in zip(payload["candidates"], labels)], **extra}
    return client.post(f"/api/assignments/{payload['id']}/submit/", body, format="json")


@pytest.fixture
def admin():
    return make_user("admin", staff=True)


@pytest.fixture
def annotators():
    return [make_user(f"ann{i}") for i in range(6)]
