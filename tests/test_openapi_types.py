"""The browser app's API types are generated from the OpenAPI schema (frontend/openapi.yaml
-> frontend/src/api-schema.d.ts, `cd frontend && npm run api-types`). Both committed files
must match what the code produces now, so a serializer change shows up in the type check.
The schema is made as the npm script makes it: without DATABASE_URL (SQLite; integer
bounds in the schema follow the database backend)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
GENERATOR = FRONTEND / "node_modules" / ".bin" / "openapi-typescript"
REGENERATE = "run `cd frontend && npm run api-types` and commit openapi.yaml and src/api-schema.d.ts"


def test_committed_schema_and_types_are_current(tmp_path):
    schema = tmp_path / "openapi.yaml"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"PAIRRATE_VAR_DIR": str(tmp_path)}
    subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--file", str(schema)],
        cwd=FRONTEND.parent,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert schema.read_text() == (FRONTEND / "openapi.yaml").read_text(), f"the API changed: {REGENERATE}"
    if not GENERATOR.is_file():
        pytest.fail(f"{GENERATOR} is missing: run `cd frontend && npm ci` (./run test does)")
    types = tmp_path / "api-schema.d.ts"
    subprocess.run(
        [shutil.which("node") or "node", str(GENERATOR), str(schema), "--output", str(types)],
        cwd=FRONTEND,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert types.read_text() == (FRONTEND / "src" / "api-schema.d.ts").read_text(), REGENERATE
