"""The admin dashboard shows what the ratings say about the retrieval for a project
launched through the real pipeline stages and rated through the workflow: precision by
rank with interval bars, the calibration curve and threshold, reliability, drift lines
and throughput (screenshots in test-artifacts/screenshots/)."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from annotation.models import PairResult, ProjectMember
from tests.frontend.conftest import log_in
from tests.insights.conftest import LABELS, imported_bundle, launched, random_after, rate  # noqa: F401  (fixtures)
from tests.pipeline.conftest import dataset_bundle  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_dashboard_shows_precision_calibration_drift_and_throughput(page, screenshot, launched):  # noqa: F811
    project = launched("Retrieval audit", audit_share=0.5, annotators_per_task=3)

    def mostly(task_index, true_label, rng):
        return true_label if rng.random() < 0.93 else str(rng.choice(LABELS))

    rate(project, {"ann1": mostly, "ann2": mostly, "ann3": random_after(15)}, seed=4)
    assert PairResult.objects.filter(project=project).count() == 180
    get_user_model().objects.create_user("boss", password="pw-admin", is_staff=True)

    log_in(page, "boss", "pw-admin")
    page.goto(f"/#/projects/{project.pk}/dashboard")
    page.wait_for_selector("svg[data-chart='precision-by-rank'] circle.point", timeout=60_000)
    ranks = page.locator("svg[data-chart='precision-by-rank'] g[data-series^='audit'] circle.point").count()
    intervals = page.locator("svg[data-chart='precision-by-rank'] g[data-series^='audit'] g.interval").count()
    assert ranks >= 8 and intervals == ranks  # the audit sample reaches deep into the top-16
    calibration = page.locator("svg[data-chart='calibration-image->image']")
    assert calibration.locator("polyline").count() >= 2  # curves per rank + the lower-bound line
    assert page.locator("svg[data-chart='reliability-image->image'] g.interval").count() >= 3
    assert page.locator("svg[data-chart='drift'] polyline").count() == 3
    assert page.locator("svg[data-chart='throughput'] rect.bar").count() >= 2
    flagged = page.locator("section.insights p.flagged").inner_text()
    assert "ann3" in flagged and "ann1" not in flagged
    text = page.locator("section.insights").inner_text()
    assert "Precision of the retrieval (audit)" in text and "Threshold image->image" in text
    screenshot("20-admin-insights")

    page.get_by_role("button", name="Pause ann3").click()  # the admin decides
    page.wait_for_selector("button.pause-suggested:has-text('ann3 paused')")
    assert ProjectMember.objects.get(project=project, user__username="ann3").paused

    page.fill("#insights-target", "0.6")
    page.get_by_role("button", name="Update").click()
    page.wait_for_selector("svg[data-chart='calibration-image->image'] text:has-text('target 60%')")
    link = page.locator("section.insights a[href*='precision.csv']")
    assert "target=0.6" in link.get_attribute("href")
    screenshot("21-admin-insights-target")
