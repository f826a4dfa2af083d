"""A ready image project with real (generated) pictures, for the annotator tests."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from PIL import Image, ImageDraw

from annotation.models import Caption, Dataset, EmbeddingSpace, Item, Project, ProjectMember, Task, TaskCandidate

COLORS = ["#d1495b", "#edae49", "#00798c", "#30638e", "#003d5b", "#66a182", "#8d96a3", "#2e4057"]
CAPTIONS = ["a red circle on a white background", "two yellow squares side by side",
            "a teal triangle pointing up", "a blue stripe across a grey field"]


def write_picture(path: Path, index: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (320, 240), "white")
    draw = ImageDraw.Draw(image)
    color = COLORS[index % len(COLORS)]
    [draw.ellipse, draw.rectangle, draw.polygon][index % 3](
        [(60, 40), (260, 200)] if index % 3 != 2 else [(160, 30), (270, 210), (50, 210)], fill=color)
    draw.text((10, 10), f"item {index}", fill="black")
    image.save(path)


def ready_image_project(annotator_names: list[str], n_tasks: int = 4, broken: tuple[int, int] | None = None,
                        password: str = "pw-annotator") -> Project:
    """A project in state ready with `n_tasks` tasks of 3 image candidates each.
    `broken=(task, slot)` points that candidate at a file that does not exist."""
    dataset = Dataset.objects.create(name="pictures")
    space = EmbeddingSpace.objects.create(name="toy-image", model_name="toy", dim=4, target_modality="image")
    project = Project.objects.create(
        name="Shapes", target_modality="image", space=space, sample_size=n_tasks, item_cap=10,
        annotators_per_task=1, state=Project.State.READY, lease_seconds=600,
        instructions="Does the picture show what the caption says?")
    items = []
    for i in range(n_tasks * 3 + n_tasks):
        media = f"pictures/{i}.png"
        write_picture(Path(settings.MEDIA_ROOT) / media, i)
        items.append(Item(dataset=dataset, modality="image", external_id=f"pic{i}", media=media))
    items = Item.objects.bulk_create(items)
    for t in range(n_tasks):
        paired = items[n_tasks * 3 + t]
        caption = Caption.objects.create(dataset=dataset, external_id=f"cap{t}", text=CAPTIONS[t % len(CAPTIONS)],
                                         source_modality="image", paired_item=paired)
        task = Task.objects.create(project=project, caption=caption, paired_item=paired, position=t)
        for slot in range(3):
            item = items[t * 3 + slot]
            if broken == (t, slot):
                Item.objects.filter(pk=item.pk).update(media="pictures/missing.png")
            TaskCandidate.objects.create(task=task, item=item, slot=slot, retrieval_rank=slot, similarity=0.9 - slot / 10)
    for name in annotator_names:
        user = get_user_model().objects.create_user(username=name, password=password)
        ProjectMember.objects.create(project=project, user=user)
    return project
