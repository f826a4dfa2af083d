"""Fixtures the storage tests share with the import and embedding tests."""

from tests.annotation.conftest import make_bundle  # noqa: F401  (fixture)
from tests.embedding.test_embed_runs import eager  # noqa: F401  (fixture)
