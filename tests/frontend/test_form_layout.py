"""The project form at common window widths: no fieldset covers another (at 1440 px the
Rating fieldset used to lie over Candidates), and curation settings are fields with
their own messages, not a JSON box."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from annotation.models import Dataset, EmbeddingSpace, Project
from tests.annotation.workflow_setup import make_project
from tests.frontend.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = [1024, 1440, 1920, 2560]

# Each top-level fieldset's box, as the browser laid it out.
BOXES = """() => [...document.querySelectorAll('.form-grid > fieldset')].map((f) => {
  const r = f.getBoundingClientRect();
  return {legend: f.querySelector('legend').textContent, left: r.left, top: r.top, right: r.right, bottom: r.bottom};
})"""


def overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"] - 0.5
        and b["left"] < a["right"] - 0.5
        and a["top"] < b["bottom"] - 0.5
        and b["top"] < a["bottom"] - 0.5
    )


@pytest.fixture
def form_page(page):
    get_user_model().objects.create_user("boss", password="pw-admin", is_staff=True)
    make_project(n_tasks=20, modality="point_cloud", name="existing")  # a pool: 23 items, 20 captions, vectors
    # Long names: the widest options and labels a form meets.
    Dataset.objects.update(name="a-dataset-with-a-rather-long-name-for-the-checkbox-label")
    EmbeddingSpace.objects.update(
        name="minilm-point-cloud-with-a-long-name",
        model_name="all-MiniLM-L6-v2 (text stand-in, a long model description)",
    )
    log_in(page, "boss", "pw-admin")
    page.goto("/#/projects/new")
    page.wait_for_selector("#field-name")
    return page


def test_no_fieldset_covers_another_from_1024_to_2560_px(form_page, screenshot):
    for width in WIDTHS:
        form_page.set_viewport_size({"width": width, "height": 900})
        form_page.wait_for_timeout(100)
        boxes = form_page.evaluate(BOXES)
        assert [b["legend"] for b in boxes] == ["Project", "Caption pool", "Curation", "Candidates", "Rating"]
        clashes = [(a["legend"], b["legend"]) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if overlap(a, b)]
        assert not clashes, f"at {width} px: {clashes} {boxes}"
        page_width = form_page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= width, f"at {width} px the page scrolls sideways ({page_width} px)"
        if width == 1440:
            screenshot("form-layout-1440")


def test_curation_fields_check_their_values(form_page):
    form_page.fill("#field-name", "Curated")
    form_page.get_by_label("a-dataset-with-a-rather-long-name-for-the-checkbox-label").check()
    form_page.fill("#field-sample_size", "10")
    form_page.fill("#field-curation-levels", "2")
    form_page.fill("#field-curation-clusters", "10, 40")
    form_page.get_by_role("button", name="Create project").click()
    form_page.wait_for_selector("#field-curation-error:has-text('at most as many clusters as the level below')")
    form_page.fill("#field-curation-clusters", "40")
    form_page.get_by_role("button", name="Create project").click()
    form_page.wait_for_selector("#field-curation-error:has-text('2 levels need 2 cluster counts')")
    form_page.fill("#field-curation-clusters", "40, 10")
    form_page.fill("#field-curation-iterations", "0")
    form_page.get_by_role("button", name="Create project").click()
    form_page.wait_for_selector("#field-curation-error:has-text('Iterations: at least 1')")
    assert not Project.objects.filter(name="Curated").exists()  # nothing was sent yet
    form_page.fill("#field-curation-iterations", "7")
    form_page.fill("#field-curation-resampling_steps", "1")
    form_page.fill("#field-curation-sample_size", "5")
    form_page.select_option("#field-curation-pick", "closest")
    form_page.get_by_role("button", name="Create project").click()
    form_page.wait_for_selector("#launch")
    project = Project.objects.get(name="Curated")
    assert project.curation == {
        "clusters": [40, 10],
        "resampling_steps": 1,
        "sample_size": 5,
        "iterations": 7,
        "pick": "closest",
    }
    # Editing shows the stored values and keeps keys the form has no field for.
    Project.objects.filter(pk=project.pk).update(curation={**project.curation, "level1_init": "kmeans++"})
    form_page.goto(f"/#/projects/{project.pk}/edit")
    form_page.wait_for_selector("#field-curation-clusters")
    assert form_page.input_value("#field-curation-clusters") == "40, 10"
    assert form_page.input_value("#field-curation-levels") == "2"
    form_page.fill("#field-curation-iterations", "8")
    form_page.get_by_role("button", name="Save changes").click()
    form_page.wait_for_url(f"**/#/projects/{project.pk}")
    project.refresh_from_db()
    assert project.curation["iterations"] == 8 and project.curation["level1_init"] == "kmeans++"
