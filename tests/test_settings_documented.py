"""Every environment setting the code reads is in docs/deploy.md's Settings table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["pairrate", "annotation", "sampling", "tasks", "frontend"]
# A read: os.environ.get("X"), os.environ["X"] (not an assignment), os.getenv("X"), env_bool("X"), env_list("X").
READ = re.compile(
    r'(?:os\.environ\.get\(|os\.getenv\(|env_bool\(|env_list\(|os\.environ\[)\s*"([A-Z][A-Z0-9_]+)"'
    r"(?!\]\s*=[^=])"
)
OURS = re.compile(r"^(PAIRRATE_|DATABASE_URL$|CELERY_)")


def settings_read() -> set[str]:
    names = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            names |= {n for n in READ.findall(path.read_text(encoding="utf-8")) if OURS.match(n)}
    return names


def test_every_setting_read_is_documented():
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    table = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    read = settings_read()
    assert {"PAIRRATE_DEBUG", "PAIRRATE_SSL_REDIRECT", "DATABASE_URL"} <= read  # the scan finds them
    assert not read - documented, f"add to docs/deploy.md, Settings: {sorted(read - documented)}"
