"""The admin dashboard shows what the ratings say about the retrieval for the demo's photos
project, built in the test database with the demo's own builders (annotation/demo: the
real bundle, launched through the pipeline, rated by the demo's SIMULATED annotators, the
demo groups build): precision by rank with interval bars, the calibration curve and
threshold, reliability, drift lines and throughput; then the admin cleans the demo groups
build from the dashboard and the page polls the background run to its kept counts
(screenshots in test-artifacts/screenshots/)."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from annotation.demo import groups as demo_groups, projects as demo_projects, ratings
from annotation.groups import iter_chunks
from annotation.insights import cleaning_runs
from annotation.models import GroupsBuild, PairResult, ProjectMember
from tests.frontend.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def demo_bundle(tmp_path_factory):
    """The demo bundle without AudioCaps captions (as tests/test_demo_sqlite.py runs it)."""
    from annotation.demo.build import build_demo_bundle

    return build_demo_bundle(tmp_path_factory.mktemp("demo") / "bundle", audiocaps_limit=0)


@pytest.fixture
def eager():
    """Launch stages, the groups build and the cleaning run where they are sent, as in the
    demo (no workers in the browser tests)."""
    from tasks.celery_app import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def demo_project(demo_bundle, eager):
    from annotation.importing import import_bundle

    import_bundle(demo_bundle)
    project = demo_projects.launch(demo_projects.PROJECTS[0])
    assert project.state == "ready", project.state
    assert ratings.simulate(project) == len(ratings.SIMULATED) * ratings.TASKS_EACH
    build = demo_groups.build_groups()
    assert build.state == GroupsBuild.State.SUCCEEDED, build.error
    return project, build


def test_dashboard_shows_precision_calibration_drift_and_cleans_the_demo_groups(page, screenshot, demo_project):
    project, build = demo_project
    assert PairResult.objects.filter(project=project).count() >= 100
    get_user_model().objects.create_user("boss", password="pw-admin", is_staff=True)

    log_in(page, "boss", "pw-admin")
    page.goto(f"/#/projects/{project.pk}/dashboard")
    page.wait_for_selector("svg[data-chart='precision-by-rank'] circle.point", timeout=60_000)
    points = page.locator("svg[data-chart='precision-by-rank'] circle.point").count()
    intervals = page.locator("svg[data-chart='precision-by-rank'] g.interval").count()
    assert points >= 3 and intervals == points
    calibration = page.locator("svg[data-chart='calibration-image->image']")
    assert calibration.locator("polyline").count() >= 2  # curves per rank + the lower-bound line
    assert page.locator("svg[data-chart='reliability-image->image'] g.interval").count() >= 3
    assert page.locator("svg[data-chart='drift'] polyline").count() == len(ratings.SIMULATED)
    assert page.locator("svg[data-chart='throughput'] rect.bar").count() >= 2
    flagged = page.locator("section.insights p.flagged").inner_text()
    assert "simulated3" in flagged and "simulated1" not in flagged  # the one that turns careless
    text = page.locator("section.insights").inner_text()
    assert "Precision of the retrieval (audit)" in text and "Threshold image->image" in text
    screenshot("20-admin-insights")

    page.get_by_role("button", name="Pause simulated3").click()  # the admin decides
    page.wait_for_selector("button.pause-suggested:has-text('simulated3 paused')")
    assert ProjectMember.objects.get(project=project, user__username="simulated3").paused

    # Clean the demo groups with the recommended threshold: 202, then the page polls the run.
    page.wait_for_selector(f"#cleaning-build option[value='{build.pk}']", state="attached")
    page.select_option("#cleaning-build", str(build.pk))
    page.get_by_role("button", name="Clean the build").click()
    page.wait_for_selector("section.insights .cleaning-state[data-state='succeeded']", timeout=60_000)
    build.refresh_from_db()
    image = cleaning_runs.manifest(build)["modalities"]["image"]
    scores = np.concatenate([c.items["image"][1] for c in iter_chunks(build)])
    assert image["threshold"] is not None and image["pairs_kept"] == int((scores >= image["threshold"]).sum())
    kept = page.locator("section.insights ul.cleaning-kept").inner_text()
    assert f"kept {image['pairs_kept']} of {image['pairs_total']} pairs" in kept
    assert page.locator("section.insights .cleaning a[href$='csv/nn_1/data_groups.csv']").count() == 1
    screenshot("22-admin-insights-cleaned")

    page.fill("#insights-target", "0.6")
    page.get_by_role("button", name="Update").click()
    page.wait_for_selector("svg[data-chart='calibration-image->image'] text:has-text('target 60%')")
    link = page.locator("section.insights a[href*='precision.csv']")
    assert "target=0.6" in link.get_attribute("href")
    screenshot("21-admin-insights-target")
