"""Import boundaries that keep the rooms apart (docs/architecture.md).

- `sampling/` is the framework-free numeric core: it imports neither Django nor `annotation`.
- `annotation/` queues background work by task name through `annotation/jobs.py`, so it never
  imports `tasks/` (the worker side), and `tasks/` imports `annotation/` only inside task bodies.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports(path: Path, top_level_only: bool = False) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def offenders(package: str, forbidden: tuple[str, ...], top_level_only: bool = False) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imports(path, top_level_only):
            if module.split(".")[0] in forbidden:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


def test_sampling_imports_neither_django_nor_annotation():
    assert offenders("sampling", ("django", "rest_framework", "annotation", "tasks", "celery")) == []


def test_annotation_never_imports_the_worker_side():
    assert offenders("annotation", ("tasks",)) == []


def test_tasks_import_annotation_only_inside_task_bodies():
    assert offenders("tasks", ("annotation",), top_level_only=True) == []
