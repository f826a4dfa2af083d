"""Tasks for the `gpu` queue (routed by name prefix in celery_app)."""
from __future__ import annotations

from .celery_app import app


@app.task(name="tasks.gpu.device_info")
def device_info() -> dict:
    """Which device this worker computes on: CUDA when present, else the CPU."""
    from sampling.device import resolve_device

    return {"device": str(resolve_device())}
