"""`manage.py import_dataset` screens what it imported, as an API import does."""

from __future__ import annotations

import json
import shutil

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_command_line_import_screens_its_media_in_process(media_cases, tmp_path, settings, capsys):
    from annotation.models import Item

    settings.CELERY_TASK_ALWAYS_EAGER = True  # no broker: screened here, like the demo
    bundle = tmp_path / "bundle"
    (bundle / "media").mkdir(parents=True)
    rows = []
    for name, (modality, path, _) in media_cases.items():
        shutil.copy(path, bundle / "media" / f"{name}{path.suffix}")
        rows.append({"id": name, "modality": modality, "media": f"media/{name}{path.suffix}"})
    (bundle / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (bundle / "captions.jsonl").write_text(json.dumps({"id": "c1", "text": "a caption"}) + "\n")
    (bundle / "pairrate.json").write_text(
        json.dumps({"dataset": "screened-cli", "media": "local", "items": "items.jsonl", "captions": "captions.jsonl"})
    )
    call_command("import_dataset", str(bundle), "--no-progress")
    statuses = dict(Item.objects.values_list("external_id", "screen_status"))
    for name, (_, _, expected) in media_cases.items():
        assert statuses[name] == ("ok" if expected is None else "failed"), name
    out, err = capsys.readouterr()
    assert json.loads(out)["items"] == len(media_cases) and "media screening" in err

    call_command("import_dataset", str(bundle), "--no-progress", "--no-screen", "--dataset", "unscreened")
    assert set(Item.objects.filter(dataset__name="unscreened").values_list("screen_status", flat=True)) == {"pending"}
