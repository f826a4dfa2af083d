"""An annotator rates tasks with the keyboard only; the ratings land in PostgreSQL."""

from __future__ import annotations

import pytest

from annotation.models import Assignment, Rating
from tests.frontend.builders import ready_image_project
from tests.frontend.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

KEYS = {"good": "1", "partial": "2", "bad": "3"}


def current_assignment(page) -> int:
    return int(page.locator(".candidates").get_attribute("data-assignment"))


def wait_for_new_task(page, previous: int) -> int:
    page.wait_for_function(
        "prev => { const el = document.querySelector('.candidates');"
        " return el && Number(el.dataset.assignment) !== prev; }",
        arg=previous,
    )
    return current_assignment(page)


def rate_with_keys(page, labels: list[str]) -> None:
    for label in labels:
        page.keyboard.press(KEYS[label])


def stored(assignment_id: int) -> list[str]:
    return [r.label for r in Rating.objects.filter(assignment_id=assignment_id).order_by("candidate__slot")]


def test_rate_three_tasks_with_keyboard_undo_network_error_and_done(page, screenshot):
    project = ready_image_project(["ann1"], n_tasks=4, broken=(3, 1))
    log_in(page, "ann1", "pw-annotator")
    page.wait_for_selector("text=Your projects")
    screenshot("01-annotator-projects")
    # The project list focuses its first "Start rating" link: Enter opens the rating screen.
    page.keyboard.press("Enter")
    page.wait_for_selector(".candidates[data-assignment]")
    page.wait_for_function("() => [...document.querySelectorAll('.card img')].every(i => i.complete)")
    screenshot("02-rating-screen")

    plans = [["good", "partial", "bad"], ["bad", "bad", "good"], ["partial", "good", "good"]]
    done: list[int] = []
    assignment = current_assignment(page)
    for labels in plans:
        rate_with_keys(page, labels)
        if not done:
            screenshot("03-rating-screen-rated")
        page.keyboard.press("Enter")
        done.append(assignment)
        assignment = wait_for_new_task(page, assignment)

    for assignment_id, labels in zip(done, plans):
        row = Assignment.objects.get(pk=assignment_id)
        assert row.state == Assignment.State.SUBMITTED and row.annotator.username == "ann1"
        assert stored(assignment_id) == labels
        assert row.seconds is not None and row.seconds >= 0

    # Undo the third submission: it comes back with its labels; change one and resubmit.
    fourth = assignment
    page.keyboard.press("u")
    page.wait_for_function(f"() => document.querySelector('.candidates').dataset.assignment === '{done[2]}'")
    assert page.locator(".card").first.get_attribute("data-label") == "partial"
    assert Assignment.objects.get(pk=done[2]).state == Assignment.State.LEASED
    page.keyboard.press("3")  # the first candidate has focus again
    page.keyboard.press("Enter")
    assert wait_for_new_task(page, done[2]) == fourth
    assert stored(done[2]) == ["bad", "good", "good"]

    # The fourth task has a candidate whose file is missing: the card offers the flag.
    page.wait_for_selector(".broken-note:not([hidden])")
    screenshot("04-media-failed")
    page.locator(".broken-note:not([hidden]) button").click()
    assert page.locator("#flag-media_broken").is_checked()
    page.locator(".card").first.focus()
    # the flag's re-render may land after focus() on a loaded machine: keys go to the cards only
    page.wait_for_function("() => document.activeElement?.classList.contains('card')")

    # Network failure on submit: the ratings stay, Retry (keyboard) sends them again.
    page.route("**/submit/", lambda route: route.abort())
    rate_with_keys(page, ["good", "bad", "partial"])
    page.wait_for_function("() => [...document.querySelectorAll('.card')].every((card) => card.dataset.label)")
    page.keyboard.press("Enter")
    page.wait_for_selector(".banner.error:not([hidden])")
    screenshot("05-network-error")
    assert Assignment.objects.get(pk=fourth).state == Assignment.State.LEASED
    page.unroute("**/submit/")
    page.keyboard.press("Enter")  # the banner's Retry button has focus
    page.wait_for_selector("[data-state=done]")
    screenshot("06-no-tasks-left")
    row = Assignment.objects.get(pk=fourth)
    assert row.state == Assignment.State.SUBMITTED and row.flags == ["media_broken"]
    assert stored(fourth) == ["good", "bad", "partial"]
    assert Assignment.objects.filter(project=project, state=Assignment.State.SUBMITTED).count() == 4
