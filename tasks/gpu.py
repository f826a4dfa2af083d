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
