"""Shared fixtures. Tests run against real PostgreSQL and Redis (see ./run test)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pairrate")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def media_root(tmp_path_factory, settings) -> Path:
    """Each test gets its own empty media storage and upload/import folders."""
    root = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = root
    uploads = tmp_path_factory.mktemp("uploads")
    settings.PAIRRATE_UPLOAD_ROOT = uploads
    settings.PAIRRATE_IMPORT_ROOTS = [Path("/tmp"), uploads]
    return root
