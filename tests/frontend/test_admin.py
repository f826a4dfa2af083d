"""An admin imports a dataset, creates and launches a project, watches it become ready,
adds an annotator, reads the dashboard and downloads an export, all in the browser."""

from __future__ import annotations

import json
import shutil

import pytest
from django.contrib.auth import get_user_model

from annotation.rating import claim, submit
from annotation.models import ExportRun, ImportRun, Project, ProjectMember
from tests.frontend.conftest import log_in
from tests.pipeline.conftest import dataset_bundle  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

LAUNCH_TIMEOUT_MS = 150_000


def rate_some(project: Project, username: str, n: int, labels: list[str]) -> None:
    """Ratings through the workflow (the annotator screen has its own test)."""
    user = get_user_model().objects.get(username=username)
    for _ in range(n):
        assignment = claim.next_assignment(project, user)
        candidates = list(assignment.task.candidates.order_by("slot").values_list("pk", flat=True))
        submit.submit(assignment.pk, user, submit.Submission(dict(zip(candidates, labels)), [], 5.0))


def set_field(page, name: str, value: str) -> None:
    page.fill(f"#field-{name}", value)


def test_admin_imports_creates_launches_and_exports(page, screenshot, running_worker, dataset_bundle, tmp_path):  # noqa: F811
    get_user_model().objects.create_user("boss", password="pw-admin", is_staff=True)
    get_user_model().objects.create_user("ann1", password="pw-annotator")
    broken = tmp_path / "broken"
    shutil.copytree(dataset_bundle, broken)
    with open(broken / "items.jsonl", "a") as handle:
        handle.write('{"id": "img-bad", "modality": "hologram", "media": ""}\n')

    log_in(page, "boss", "pw-admin")
    page.wait_for_selector("text=New project")
    page.get_by_role("link", name="Datasets").click()

    # A bundle with a bad row: the import fails and names file, line and column.
    page.fill("#import-path", str(broken))
    page.fill("#import-dataset", "broken")
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector(".import-run[data-state=failed] table", timeout=60_000)
    error_row = page.locator(".import-run[data-state=failed] tbody tr").first
    assert "items.jsonl" in error_row.inner_text()
    screenshot("10-admin-import-errors")

    page.fill("#import-path", str(dataset_bundle))
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector(".import-run[data-state=succeeded]", timeout=60_000)
    page.wait_for_selector("td:text-is('launchset')")
    assert ImportRun.objects.filter(state="succeeded").count() == 1
    screenshot("11-admin-datasets")

    # The form: a browser-side check first, then one only the server can make.
    page.get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="New project").click()
    page.wait_for_selector("#field-name")
    set_field(page, "name", "Launched from the browser")
    page.get_by_label("launchset").check()
    page.select_option("#field-space", label="t-image (toy, 16-d, text→image)")
    set_field(page, "candidates_per_task", "20")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_selector("#field-candidates_per_task-error:text('at most 16')")
    set_field(page, "candidates_per_task", "3")
    set_field(page, "sample_size", "5000")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_selector("#field-sample_size-error:has-text('cannot sample 5000')")
    screenshot("12-admin-project-form-errors")
    set_field(page, "sample_size", "20")
    set_field(page, "item_cap", "8")
    set_field(page, "seed", "3")
    page.get_by_role("button", name="Create project").click()

    # Launch and watch the pipeline become ready.
    page.wait_for_selector("#launch")
    project = Project.objects.get(name="Launched from the browser")
    assert (project.sample_size, project.candidates_per_task, project.space.name) == (20, 3, "t-image")
    page.click("#launch")
    page.wait_for_selector("#pipeline-state[data-state=launching], #pipeline-state[data-state=ready]")
    screenshot("13-admin-pipeline-running")
    page.wait_for_selector("#pipeline-state[data-state=ready]", timeout=LAUNCH_TIMEOUT_MS)
    project.refresh_from_db()
    assert project.state == Project.State.READY and project.tasks.count() > 0
    assert page.locator("table .pill.succeeded").count() == project.stages.count()
    screenshot("14-admin-pipeline-ready")

    # Members: add the annotator.
    page.get_by_role("link", name="Members").click()
    page.fill("#add-usernames", "ann1, nobody")
    page.get_by_role("button", name="Add").click()
    page.wait_for_selector("#members-error:has-text('nobody')")
    page.fill("#add-usernames", "ann1")
    page.get_by_role("button", name="Add").click()
    page.wait_for_selector("td:text-is('ann1')")
    assert ProjectMember.objects.filter(project=project, user__username="ann1").exists()
    screenshot("15-admin-members")

    # Dashboard after some ratings.
    rate_some(project, "ann1", 3, ["good", "partial", "bad"])
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_selector("svg[aria-label='Ratings per modality pair'] rect")
    assert "ann1" in page.locator("section[aria-labelledby=annotators-h]").inner_text()
    screenshot("16-admin-dashboard")

    # Export and download.
    page.get_by_role("link", name="Exports").click()
    page.select_option("#export-format", "jsonl")
    page.get_by_role("button", name="Start export").click()
    link = page.locator("a.download").first
    link.wait_for(timeout=60_000)
    screenshot("17-admin-exports")
    with page.expect_download() as download_info:
        link.click()
    path = download_info.value.path()
    run = ExportRun.objects.get(projects=project)
    data = open(path, "rb").read()
    assert run.state == ExportRun.State.SUCCEEDED and len(data) == run.size_bytes
    rows = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    assert len(rows) == run.row_count
