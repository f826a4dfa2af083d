"""An admin settles contested pairs of a three-annotator project from the adjudication
screen; the outcome lands in PostgreSQL; annotators cannot reach the queue."""

from __future__ import annotations

import pytest

from annotation.models import Adjudication, PairResult
from tests.frontend.builders import ready_image_project, rate_all
from tests.frontend.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

# Unanimous rule: a label holds only when all three chose it. By task position, labels by slot.
PLANS = {
    "ann1": [["good", "good", "bad"], ["partial", "good", "bad"]],
    "ann2": [["good", "partial", "bad"], ["partial", "good", "good"]],
    "ann3": [["good", "bad", "bad"], ["partial", "good", "bad"]],
}
CONTESTED = {(0, 1): {"good": 1, "partial": 1, "bad": 1}, (1, 2): {"bad": 2, "good": 1}}


def queue_ids(page) -> list[int]:
    return [
        int(x)
        for x in page.locator(".contested-list > li").evaluate_all(
            "rows => rows.map(r => r.querySelector('input[id^=note-]').id.slice(5))"
        )
    ]


def test_admin_adjudicates_contested_pairs(new_page, page, screenshot, django_user_model):
    project = ready_image_project(
        ["ann1", "ann2", "ann3"],
        n_tasks=2,
        annotators_per_task=3,
        consensus_rule="unanimous",
        contested_route="adjudicate",
    )
    rate_all(project, PLANS)
    contested = {
        (r.task.position, r.candidate.slot): r
        for r in PairResult.objects.filter(project=project, state="contested").select_related("task", "candidate")
    }
    assert {key: r.votes for key, r in contested.items()} == CONTESTED
    first, second = contested[(0, 1)], contested[(1, 2)]
    django_user_model.objects.create_user("boss", password="pw-admin", is_staff=True)

    log_in(page, "boss", "pw-admin")
    page.get_by_role("link", name="Shapes").click()
    page.get_by_role("link", name="Contested pairs").click()
    page.wait_for_selector(".contested-list")
    assert page.url.endswith(f"#/projects/{project.pk}/contested")
    assert page.locator(".tab-body > p.muted").inner_text() == "2 contested pair(s)"
    assert queue_ids(page) == [first.pk, second.pk]  # oldest first
    rows = page.locator(".contested-list > li")
    for row, result in zip([rows.nth(0), rows.nth(1)], [first, second]):
        text = row.inner_text()
        assert result.task.caption.text in text and "image→image" in text
        votes = text.split("votes: ")[1].splitlines()[0]
        # best label first, whatever order PostgreSQL's jsonb keys come in
        assert votes == " · ".join(f"{k} {result.votes[k]}" for k in ("good", "partial", "bad") if k in result.votes)
    # The candidate's picture is shown (a signed media link that loads).
    page.wait_for_function(
        "() => [...document.querySelectorAll('.contested-list img')].every(i => i.complete && i.naturalWidth === 320)"
    )
    screenshot("20-admin-contested")

    # Keyboard: type a note, Shift+Tab back over "bad" to "partial", Enter.
    page.focus(f"#note-{first.pk}")
    page.keyboard.type("the triangle is there, the colour is off")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.textContent") == "partial"
    page.keyboard.press("Enter")
    page.wait_for_selector(".tab-body > p.muted:text-is('1 contested pair(s)')")
    assert queue_ids(page) == [second.pk]
    page.wait_for_selector(f"#toast:has-text('Pair {first.pk} settled as partial')")
    # The focus goes on to the pair that took the settled one's place.
    page.wait_for_function(f"() => document.activeElement.closest('[aria-label=\"Adjudicate pair {second.pk}\"]')")
    assert page.evaluate("document.activeElement.textContent") == "good"
    first.refresh_from_db()
    assert (first.state, first.label, first.votes) == ("adjudicated", "partial", CONTESTED[(0, 1)])
    decision = Adjudication.objects.get(result=first)
    assert (decision.admin.username, decision.label, decision.note) == (
        "boss",
        "partial",
        "the triangle is there, the colour is off",
    )
    screenshot("21-admin-contested-one-settled")

    # It stays out of the queue after a reload; the other one is settled with a click.
    page.reload()
    page.wait_for_selector(".contested-list")
    assert queue_ids(page) == [second.pk]
    page.get_by_role("group", name=f"Adjudicate pair {second.pk}").get_by_role("button", name="bad").click()
    page.wait_for_selector("text=Nothing to adjudicate.")
    second.refresh_from_db()
    assert (second.state, second.label) == ("adjudicated", "bad")
    assert Adjudication.objects.get(result=second).note == ""
    assert not PairResult.objects.filter(project=project, state="contested").exists()
    assert PairResult.objects.filter(project=project, state="agreed").count() == 4

    # An annotator of the project opening the screen's URL gets their own projects, not the
    # queue, and the API refuses them the queue and the adjudication.
    annotator = new_page()
    log_in(annotator, "ann1", "pw-annotator")
    annotator.goto(f"/#/projects/{project.pk}/contested")
    annotator.reload()  # a full load of that URL, not only a hash change
    annotator.wait_for_selector("text=Your projects")
    assert annotator.locator(".contested-list, [aria-label^='Adjudicate']").count() == 0
    assert annotator.request.get(f"/api/projects/{project.pk}/contested/").status == 403
    csrf = next(c["value"] for c in annotator.context.cookies() if c["name"] == "csrftoken")
    refused = annotator.request.post(
        f"/api/projects/{project.pk}/contested/{second.pk}/adjudicate/",
        data={"label": "good"},
        headers={"X-CSRFToken": csrf},
    )
    assert refused.status == 403
    second.refresh_from_db()
    assert (second.state, second.label) == ("adjudicated", "bad")
    assert Adjudication.objects.filter(result=second).count() == 1
