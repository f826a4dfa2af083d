"""The datasets screen shows each dataset's screening counts and its failed items with reasons."""

from __future__ import annotations

import shutil

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotation.models import Dataset, Item
from tests.frontend.conftest import log_in

# The broken and good media files of the screening tests. (Importing the browser fixtures into
# another folder's module would start a second Playwright session beside the first.)
from tests.screening.conftest import media_cases  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_datasets_screen_lists_failed_items_with_reasons(page, media_cases, media_root):  # noqa: F811
    dataset = Dataset.objects.create(name="screened")
    for name in ("coco-a", "bikes", "variable-rate", "coco-truncated"):
        modality, path, _ = media_cases[name]
        relative = f"datasets/screened/{path.name}"
        (media_root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, media_root / relative)
        Item.objects.create(dataset=dataset, external_id=name, modality=modality, media=relative)
    Item.objects.create(dataset=dataset, external_id="remote", modality="image", media="https://example.org/x.jpg")
    call_command("screen_media", "--dataset", "screened", "--no-progress")
    get_user_model().objects.create_user("boss", password="pw-admin", is_staff=True)

    log_in(page, "boss", "pw-admin")
    page.get_by_role("link", name="Datasets").click()
    panel = page.locator(".screening[data-dataset=screened]")
    panel.locator("table").wait_for()
    assert "ok 2" in panel.inner_text() and "failed 2" in panel.inner_text()
    assert "skipped (remote) 1" in panel.inner_text()
    rows = {
        row.locator("td").first.inner_text(): row.locator("td").last.inner_text()
        for row in panel.locator("tbody tr").all()
    }
    assert set(rows) == {"variable-rate", "coco-truncated"}
    assert rows["variable-rate"].startswith("variable frame rate")
    assert rows["coco-truncated"].startswith("corrupt JPEG")
    assert page.get_by_role("button", name="Re-screen screened").is_enabled()

    # The project form offers the setting; failed media are left out unless changed.
    page.get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="New project").click()
    setting = page.locator("#field-include_failed_media")
    setting.wait_for()
    assert setting.input_value() == "false"
    assert "left out of matching" in setting.inner_text() and "matched too" in setting.inner_text()
