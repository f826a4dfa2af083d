"""The demo's retrieval groups: every demo caption against the items of the four minilm
spaces, built in-process (the demo has no broker) once; a failed build is retried."""

from __future__ import annotations

from ..groups import create_build, runner
from ..models import EmbeddingSpace, GroupsBuild, ItemVector

NAME = "demo groups"


def build_groups() -> GroupsBuild:
    build = GroupsBuild.objects.filter(name=NAME).order_by("-pk").first()
    if build is None or build.state in (GroupsBuild.State.FAILED, GroupsBuild.State.CANCELLED):
        spaces = {s.target_modality: s.name for s in EmbeddingSpace.objects.filter(name__startswith="minilm-")}
        smallest = min(
            ItemVector.objects.filter(space__name=name, item__modality=modality).count()
            for modality, name in spaces.items()
        )
        if build is None:
            build = create_build(["demo"], spaces, k=min(16, smallest), name=NAME)
            runner.start(build.pk)
        else:
            runner.retry(build.pk)
        build.refresh_from_db()
    return build
