"""Fixtures for export tests; the builders live in builders.py."""

from __future__ import annotations

import pytest

from tests.export.builders import World, build_world


@pytest.fixture
def world(db) -> World:
    return build_world()
