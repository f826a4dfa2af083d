"""Tasks for the `gpu` queue (routed by name prefix in celery_app)."""

from __future__ import annotations

from .celery_app import app


@app.task(name="tasks.gpu.device_info")
def device_info() -> dict:
    """Which device this worker computes on: CUDA when present, else the CPU."""
    from sampling.device import resolve_device

    return {"device": str(resolve_device())}


@app.task(name="tasks.gpu.run_part")
def run_part(project_id: int, stage: str, index: int) -> None:
    """A GPU part of a fanned-out stage: top-k matching of one item chunk, or a batch of
    point-cloud renders. Runs on the CPU when the worker has no GPU."""
    from annotation.pipeline import runner

    runner.run_part(project_id, stage, index)


@app.task(name="tasks.gpu.embed_plan")
def embed_plan(run_id: int) -> None:
    """Load and check a space's encoder, plan an EmbedRun's parts and queue them (idempotent)."""
    from annotation.embedding import runs
    from annotation.models import EmbedRun
    from annotation.sweeper import beating

    with beating(EmbedRun, run_id):  # loading an encoder can take minutes
        runs.plan(run_id)


@app.task(name="tasks.gpu.embed_part")
def embed_part(run_id: int, side: str, index: int) -> None:
    """Embed one part of an EmbedRun: one shard, mapped all or nothing (idempotent)."""
    from annotation.embedding import runs
    from annotation.models import EmbedRun
    from annotation.sweeper import beating, drill_pause

    with beating(EmbedRun, run_id):  # a run whose parts all stop beating is swept
        drill_pause("embed_part")
        runs.run_part(run_id, side, index)


@app.task(name="tasks.gpu.groups_search", bind=True)
def groups_search(self, build_id: int, part_id: int) -> None:
    """One search part of a groups build (caption chunk x item chunk); idempotent."""
    from annotation.groups import runner
    from annotation.models import GroupsBuild
    from annotation.sweeper import beating, drill_pause

    with beating(GroupsBuild, build_id):  # a build whose tasks all stop beating is swept
        drill_pause("groups_search")
        runner.run_search(build_id, part_id, self.request.hostname or "")
