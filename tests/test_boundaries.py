"""Import boundaries that keep the rooms apart (docs/architecture.md).

- `sampling/` is the framework-free numeric core: it imports neither Django nor `annotation`.
- `annotation/` queues background work by task name through `annotation/jobs.py`, so it never
  imports `tasks/` (the worker side), and `tasks/` imports `annotation/` only inside task bodies.
- `annotation/importing/`: the two bundle layouts, `bundle.py` (pairrate's own) and `emm1.py`
  (the E-MM1 release), share `rows.py` and `manifest.py` and never import each other, nor
  `layout.py`, which alone knows both.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports(path: Path, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module) for each import in `path`; relative imports are resolved, and
    `from pkg import name` also lists `pkg.name`, which may be a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    package = path.relative_to(ROOT).parent.parts
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
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


def test_bundle_layouts_do_not_import_each_other():
    folder = ROOT / "annotation" / "importing"
    found = []
    for name, others in (("bundle", ("emm1", "layout")), ("emm1", ("bundle", "layout"))):
        targets = [f"annotation.importing.{other}" for other in others]
        found += [
            f"{name}.py:{line} imports {module}"
            for line, module in imports(folder / f"{name}.py")
            if any(module == target or module.startswith(target + ".") for target in targets)
        ]
    assert found == []
