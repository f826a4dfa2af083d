"""The demo's rating projects: created and launched in-process (the demo has no broker),
one per target modality, sized to the demo's small item pools. The photos project is also
rated by simulated annotators (ratings.py) so the insights have data."""

from __future__ import annotations

from django.contrib.auth.models import User

from ..models import Dataset, EmbeddingSpace, Project, ProjectMember
from ..pipeline import runner

INSTRUCTIONS = (
    "Does the candidate match the caption? good: it shows what the caption says; "
    "partial: some of it, or only roughly; bad: something else."
)
PROJECTS = [
    {
        "name": "Demo: captions and photos (3 annotators)",
        "space": "minilm-image",
        "sample_size": 60,
        "item_cap": 12,
        "annotators_per_task": 3,
        "audit_share": 0.25,
        "simulated_ratings": True,
    },
    {"name": "Demo: captions and sounds", "space": "minilm-audio", "sample_size": 40, "item_cap": 8},
    {"name": "Demo: captions and 3D objects", "space": "minilm-point-cloud", "sample_size": 12, "k": 8, "item_cap": 6},
    {"name": "Demo: captions and videos", "space": "minilm-video", "sample_size": 4, "k": 3, "item_cap": 4},
]


def launch(spec: dict) -> Project:
    """Create the project (once), add the annotator logins and launch it, or retry a
    failed launch; a ready project is left as it is."""
    spec = dict(spec)
    spec.pop("simulated_ratings", None)
    space = EmbeddingSpace.objects.get(name=spec.pop("space"))
    project, created = Project.objects.get_or_create(
        name=spec.pop("name"),
        defaults={
            "space": space,
            "target_modality": space.target_modality,
            "instructions": INSTRUCTIONS,
            "seed": 1,
            **spec,
        },
    )
    if created:
        project.caption_datasets.set(Dataset.objects.filter(name="demo"))
    for user in User.objects.filter(username__startswith="annotator"):
        ProjectMember.objects.get_or_create(project=project, user=user)
    if project.state in (Project.State.DRAFT, Project.State.FAILED):
        if project.state == Project.State.FAILED:
            runner.retry(project.id)
        else:
            runner.launch(project.id)
        project.refresh_from_db()
    return project
