"""Import tests: the bundle builders and database/media snapshots of tests/annotation, and
both write paths."""

import pytest

from annotation.importing import writers
from tests.annotation.conftest import (  # noqa: F401  (fixtures)
    database_snapshot,
    make_bundle,
    media_snapshot,
    random_vectors,
    snapshot,
    write_table,
)


@pytest.fixture(params=["postgres-copy", "orm"])
def writer_path(request, monkeypatch):
    """Run each test on both write paths: COPY (PostgreSQL) and the portable ORM one."""
    if request.param == "orm":
        import annotation.importing.loader as loader

        monkeypatch.setattr(writers, "writer_for", lambda using: writers.OrmWriter(using))
        monkeypatch.setattr(loader, "writer_for", lambda using: writers.OrmWriter(using))
    return request.param
