"""A rating project launched from a groups build rates exactly pairs of the build."""

from __future__ import annotations

import time

import pytest

from annotation.groups import create_build, iter_chunks, runner
from annotation.models import Dataset, EmbeddingSpace, Project, ProjectGroups
from annotation.pipeline import runner as launch_runner

from .conftest import wait_settled

pytestmark = pytest.mark.django_db(transaction=True)


def _project(name: str, build, **fields) -> Project:
    space = EmbeddingSpace.objects.get(name="g-image")
    defaults = {
        "target_modality": "image",
        "sample_size": 20,
        "item_cap": 100,
        "seed": 3,
        "nsfw_backend": "none",
        "candidates_per_task": 3,
    }
    project = Project.objects.create(name=name, space=space, **{**defaults, **fields})
    project.caption_datasets.set(Dataset.objects.filter(name="groupset"))
    ProjectGroups.objects.create(project=project, build=build)
    return project


def _wait_launched(project: Project, timeout: float = 180) -> Project:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        project.refresh_from_db()
        if project.state != Project.State.LAUNCHING:
            return project
        time.sleep(0.2)
    raise AssertionError("launch did not finish")


def test_project_from_groups_shows_the_groups_candidates(imported_groups, running_worker):
    build = create_build(["groupset"], {"image": "g-image", "audio": "g-audio"}, k=5)
    runner.start(build.pk)
    build = wait_settled(build)
    assert build.state == "succeeded", build.error
    groups = {}
    for chunk in iter_chunks(build):
        ids, sims = chunk.items["image"]
        groups.update({c: (ids[r].tolist(), sims[r].tolist()) for r, c in enumerate(chunk.caption_ids.tolist())})

    project = _project("from-groups", build)
    launch_runner.launch(project.id)
    project = _wait_launched(project)
    assert project.state == "ready", {s.name: s.error for s in project.stages.exclude(error="")}
    assert project.stages.get(name="match").counts["groups_build"] == build.pk
    tasks = list(project.tasks.prefetch_related("candidates"))
    assert len(tasks) == 20
    for task in tasks:
        candidates = list(task.candidates.order_by("slot"))
        ids, sims = groups[task.caption_id]
        assert [c.item_id for c in candidates] == ids[:3]
        assert [c.retrieval_rank for c in candidates] == [0, 1, 2]
        assert [c.similarity for c in candidates] == pytest.approx(sims[:3], abs=1e-6)


def test_project_from_groups_without_its_modality_is_refused(imported_groups, running_worker):
    build = create_build(["groupset"], {"audio": "g-audio"}, k=2)
    runner.start(build.pk)
    build = wait_settled(build)
    project = _project("wrong-modality", build)
    with pytest.raises(launch_runner.LaunchError) as caught:
        launch_runner.launch(project.id)
    assert "has no image groups" in caught.value.fields["groups"][0]
    assert caught.value.fields["candidates_per_task"] == [
        f"groups build {build.pk} holds 2 items per caption; cannot choose 3"
    ]
    project.refresh_from_db()
    assert project.state == "draft" and not project.stages.exists()

    # linking through the API is checked the same way, and a refusal stores no link
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(User.objects.create_user("boss", is_staff=True))
    ProjectGroups.objects.all().delete()
    response = client.post(f"/api/groups/{build.pk}/projects/", {"project": project.pk}, format="json")
    assert response.status_code == 400 and "has no image groups" in response.json()["fields"]["groups"][0]
    assert not ProjectGroups.objects.exists()
    other = create_build(["groupset"], {"image": "g-image"}, k=4)
    runner.start(other.pk)
    other = wait_settled(other)
    assert client.post(f"/api/groups/{other.pk}/projects/", {"project": project.pk}, format="json").status_code == 200
    assert ProjectGroups.objects.get(project=project).build == other


def test_project_from_a_list_of_pairs_rates_exactly_those_pairs(imported_groups, running_worker, tmp_path):
    from annotation.groups.pairs import project_from_pairs
    from annotation.importing.errors import BundleError

    project = Project.objects.create(
        name="from-pairs",
        space=EmbeddingSpace.objects.get(name="g-image"),
        target_modality="image",
        sample_size=1,
        item_cap=100,
        nsfw_backend="none",
        candidates_per_task=2,
    )
    project.caption_datasets.set(Dataset.objects.filter(name="groupset"))
    bad = tmp_path / "bad.csv"
    bad.write_text("caption_id,item_id\ncap001,images-003\ncap002,videos-001\nnobody,images-001\n")
    with pytest.raises(BundleError) as caught:
        project_from_pairs(bad, project)
    assert [str(e) for e in caught.value.errors] == [
        "bad.csv, line 3, column 'item_id': no image item 'videos-001' in the project's datasets",
        "bad.csv, line 4, column 'caption_id': no caption 'nobody' in the project's datasets",
    ]
    assert not ProjectGroups.objects.exists() and not project.tasks.exists()

    given = {
        "cap001": ["images-007", "images-003"],
        "cap010": ["images-001", "images-030", "images-002"],
        "cap040": ["images-004", "images-005"],
        "cap041": ["images-009"],
    }  # one pair: too few for a task
    path = tmp_path / "pairs.jsonl"
    import json

    path.write_text("".join(json.dumps({"caption_id": c, "item_ids": i}) + "\n" for c, i in given.items()))
    build = project_from_pairs(path, project)
    assert build.counts["pairs"] == 8 and build.k == 3
    launch_runner.launch(project.id)
    project = _wait_launched(project)
    assert project.state == "ready", {s.name: s.error for s in project.stages.exclude(error="")}
    rated = {
        t.caption.external_id: [c.item.external_id for c in t.candidates.order_by("slot")]
        for t in project.tasks.select_related("caption")
    }
    # candidates are the given pairs, the most similar first (similarities from the space)
    assert rated.keys() == {"cap001", "cap010", "cap040"}
    assert all(len(items) == 2 and set(items) <= set(given[c]) for c, items in rated.items())
    assert set(rated["cap001"]) == set(given["cap001"]) and set(rated["cap040"]) == set(given["cap040"])
