"""Ready projects with real (generated) media for the browser tests, and ratings made
through the workflow for screens that show their outcome."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from PIL import Image, ImageDraw

from annotation.rating import claim, submit
from annotation.models import Caption, Dataset, EmbeddingSpace, Item, Project, ProjectMember, Task, TaskCandidate

COLORS = ["#d1495b", "#edae49", "#00798c", "#30638e", "#003d5b", "#66a182", "#8d96a3", "#2e4057"]
CAPTIONS = [
    "a red circle on a white background",
    "two yellow squares side by side",
    "a teal triangle pointing up",
    "a blue stripe across a grey field",
]
CLOUD_CAPTIONS = ["a ball", "a box", "a coiled spring", "a ring"]
CANDIDATES_PER_TASK = 3


def write_picture(path: Path, index: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (320, 240), "white")
    draw = ImageDraw.Draw(image)
    color = COLORS[index % len(COLORS)]
    [draw.ellipse, draw.rectangle, draw.polygon][index % 3](
        [(60, 40), (260, 200)] if index % 3 != 2 else [(160, 30), (270, 210), (50, 210)], fill=color
    )
    draw.text((10, 10), f"item {index}", fill="black")
    image.save(path)


def cloud_points(index: int, n: int) -> np.ndarray:
    """`n` float32 points on a sphere, a cube's surface, a helix or a torus (by `index`)."""
    rng = np.random.default_rng(index)
    u, v = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 2 * np.pi, n)
    shape = index % 4
    if shape == 0:
        points = rng.normal(size=(n, 3))
        points /= np.linalg.norm(points, axis=1, keepdims=True)
    elif shape == 1:
        points = rng.uniform(-1, 1, (n, 3))
        face = rng.integers(0, 3, n)
        points[np.arange(n), face] = np.sign(points[np.arange(n), face])
    elif shape == 2:
        points = np.stack([np.cos(3 * u), np.sin(3 * u), u / np.pi - 1], axis=1)
    else:
        ring = 1 + 0.3 * np.cos(v)
        points = np.stack([ring * np.cos(u), ring * np.sin(u), 0.3 * np.sin(v)], axis=1)
    return (points * 2.5 + 10).astype(np.float32)  # off-centre and scaled: the viewer must fit it


def _project(
    name: str,
    modality: str,
    space: str,
    n_tasks: int,
    items: list[Item],
    captions: list[str],
    annotator_names: list[str],
    password: str,
    **fields,
) -> Project:
    """A ready project: task `t` gets items[t*3 : t*3+3] as candidates, captions[t] as caption."""
    dataset = items[0].dataset
    space = EmbeddingSpace.objects.create(name=space, model_name="toy", dim=4, target_modality=modality)
    project = Project.objects.create(
        **{
            "name": name,
            "target_modality": modality,
            "space": space,
            "sample_size": n_tasks,
            "item_cap": 10,
            "annotators_per_task": 1,
            "state": Project.State.READY,
            "lease_seconds": 600,
            "instructions": "Does the media show what the caption says?",
            **fields,
        }
    )
    for t in range(n_tasks):
        paired = items[n_tasks * CANDIDATES_PER_TASK + t] if len(items) > n_tasks * CANDIDATES_PER_TASK else None
        caption = Caption.objects.create(
            dataset=dataset,
            external_id=f"cap{t}",
            text=captions[t % len(captions)],
            source_modality=modality,
            paired_item=paired,
        )
        task = Task.objects.create(project=project, caption=caption, paired_item=paired, position=t)
        for slot in range(CANDIDATES_PER_TASK):
            TaskCandidate.objects.create(
                task=task,
                item=items[t * CANDIDATES_PER_TASK + slot],
                slot=slot,
                retrieval_rank=slot,
                similarity=0.9 - slot / 10,
            )
    for name in annotator_names:
        user = get_user_model().objects.create_user(username=name, password=password)
        ProjectMember.objects.create(project=project, user=user)
    return project


def ready_image_project(
    annotator_names: list[str],
    n_tasks: int = 4,
    broken: tuple[int, int] | None = None,
    password: str = "pw-annotator",
    **fields,
) -> Project:
    """A project in state ready with `n_tasks` tasks of 3 image candidates each (and a
    paired picture per caption). `broken=(task, slot)` points that candidate at a file that
    does not exist. `fields` override Project fields (e.g. annotators_per_task=3)."""
    dataset = Dataset.objects.create(name="pictures")
    items = []
    for i in range(n_tasks * CANDIDATES_PER_TASK + n_tasks):
        media = f"pictures/{i}.png"
        write_picture(Path(settings.MEDIA_ROOT) / media, i)
        items.append(Item(dataset=dataset, modality="image", external_id=f"pic{i}", media=media))
    items = Item.objects.bulk_create(items)
    if broken:
        task, slot = broken
        Item.objects.filter(pk=items[task * CANDIDATES_PER_TASK + slot].pk).update(media="pictures/missing.png")
    return _project("Shapes", "image", "toy-image", n_tasks, items, CAPTIONS, annotator_names, password, **fields)


def ready_point_cloud_project(
    annotator_names: list[str], n_tasks: int = 1, password: str = "pw-annotator", **fields
) -> Project:
    """A ready project whose candidates are point clouds (.npy, N x 3 float32; candidate
    `i` has 3000 + 500 * i points), with the pipeline's own multi-view renders
    (renders/<item>/view_NN.webp, sheet.webp) made by the media stage's renderer."""
    from annotation.pipeline.derived_media import render_point_clouds

    root = Path(settings.MEDIA_ROOT)
    dataset = Dataset.objects.create(name="objects")
    items = []
    for i in range(n_tasks * CANDIDATES_PER_TASK):
        media = f"clouds/{i}.npy"
        (root / media).parent.mkdir(parents=True, exist_ok=True)
        np.save(root / media, cloud_points(i, 3000 + 500 * i))
        items.append(Item(dataset=dataset, modality="point_cloud", external_id=f"cloud{i}", media=media))
    items = Item.objects.bulk_create(items)
    made = render_point_clouds([(item.pk, root / item.media) for item in items])
    assert made == {"made": len(items), "broken": 0}, made
    return _project(
        "Objects", "point_cloud", "toy-cloud", n_tasks, items, CLOUD_CAPTIONS, annotator_names, password, **fields
    )


def rate_all(project: Project, plans: dict[str, list[list[str]]]) -> None:
    """Each annotator rates every task served to them through the workflow (the rating
    screen has its own tests): `plans[username][task position]` lists the labels by slot."""
    for username, labels_by_task in plans.items():
        user = get_user_model().objects.get(username=username)
        while (assignment := claim.next_assignment(project, user)) is not None:
            candidates = list(assignment.task.candidates.order_by("slot").values_list("pk", flat=True))
            labels = labels_by_task[assignment.task.position]
            submit.submit(assignment.pk, user, submit.Submission(dict(zip(candidates, labels)), [], 5.0))
