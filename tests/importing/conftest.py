"""Import tests: the bundle builders and database/media snapshots of tests/annotation."""
from tests.annotation.conftest import (  # noqa: F401  (fixtures)
    database_snapshot,
    make_bundle,
    media_snapshot,
    random_vectors,
    snapshot,
    write_table,
)
