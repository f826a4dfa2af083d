"""An annotator rates point clouds: the pipeline's rendered views on the rating screen, and
the interactive three.js viewer (WebGL) that must really draw, close with Escape and give
the keyboard back to the rating screen."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from annotation.models import Assignment, Rating
from tests.frontend.builders import ready_point_cloud_project
from tests.frontend.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

BACKGROUND = (0xF6, 0xF8, 0xFA)  # the viewer's scene background; points are #0b57d0
# Counts the canvases the page asks for a WebGL context and the draw calls made with them.
COUNT_WEBGL = """
window.webglContexts = 0; window.webglDraws = 0;
const getContext = HTMLCanvasElement.prototype.getContext;
HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
  if (String(type).startsWith("webgl") && !this.webglCounted) {
    this.webglCounted = true;
    window.webglContexts += 1;
  }
  return getContext.call(this, type, ...rest);
};
const drawArrays = WebGL2RenderingContext.prototype.drawArrays;
WebGL2RenderingContext.prototype.drawArrays = function (...args) {
  window.webglDraws += 1;
  return drawArrays.apply(this, args);
};
"""


def drawn(png: bytes) -> tuple[float, float]:
    """(share of pixels in the points' blue, share of background pixels) in a screenshot.
    Points are about a pixel wide and antialiased, so they come out a paler blue."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    off = np.abs(pixels - BACKGROUND).max(axis=-1)
    blue = (off > 24) & (pixels[..., 2] - pixels[..., 0] > 40)
    return float(blue.mean()), float((off <= 3).mean())


def webgl_counts(page) -> tuple[int, int]:
    return tuple(page.evaluate("[window.webglContexts, window.webglDraws]"))


def check_viewer_draws(page, points: int, name: str, screenshot) -> None:
    viewer = page.locator("dialog.cloud[open]")
    status = viewer.locator(".zoom-bar p.muted:has-text('points ·'), .zoom-bar p.error")
    status.wait_for()
    if "could not be shown" in status.inner_text():  # e.g. no WebGL in this Chromium
        pytest.fail(f"{status.inner_text()} (software WebGL: --use-angle=swiftshader --enable-unsafe-swiftshader)")
    assert status.inner_text().startswith(f"{points} points · drag to turn")
    canvas = viewer.locator("canvas")
    webgl = canvas.evaluate(
        "c => { const gl = c.getContext('webgl2') || c.getContext('webgl');"
        " return gl && !gl.isContextLost() ? gl.getParameter(gl.VERSION) : null; }"
    )
    assert webgl and "WebGL" in webgl, "no live WebGL context on the viewer's canvas"
    first = canvas.screenshot()
    blue, background = drawn(first)
    # The cloud covers part of the view and the cleared background the rest: it drew.
    assert 0.005 < blue < 0.6 and background > 0.3, (blue, background)
    # The view turns by itself until the annotator drags: frames keep coming.
    deadline = time.monotonic() + 5
    while canvas.screenshot() == first:
        assert time.monotonic() < deadline, "the 3D view did not change in 5 s (animation loop stopped?)"
        page.wait_for_timeout(100)
    screenshot(name)


def test_point_cloud_renders_and_3d_viewer(page, screenshot):
    project = ready_point_cloud_project(["ann1"], n_tasks=1)
    page.add_init_script(COUNT_WEBGL)
    log_in(page, "ann1", "pw-annotator")
    page.get_by_role("link", name="Start rating").click()
    page.wait_for_selector(".candidates[data-assignment]")
    assignment = int(page.locator(".candidates").get_attribute("data-assignment"))

    # Each candidate shows six of the pipeline's renders (512 px views), all loaded.
    cards = page.locator(".card")
    assert cards.count() == 3
    assert [cards.nth(i).locator(".view-grid img").count() for i in range(3)] == [6, 6, 6]
    page.wait_for_function(
        "() => { const v = [...document.querySelectorAll('.card .view-grid img')];"
        " return v.length === 18 && v.every(i => i.complete && i.naturalWidth === 512); }"
    )
    screenshot("30-rating-point-clouds")

    # Z: the contact sheet and the eight views, browsed with the arrows; Escape closes.
    page.keyboard.press("z")
    zoom = page.locator("dialog.zoom[open]")
    zoom.get_by_text("1 / 9").wait_for()
    page.keyboard.press("ArrowRight")
    zoom.get_by_text("2 / 9").wait_for()
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog", state="detached")

    # V opens the 3D view of the focused (first) candidate.
    page.keyboard.press("v")
    check_viewer_draws(page, 3000, "31-cloud-viewer", screenshot)
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog", state="detached")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Candidate 1"
    page.keyboard.press("1")

    # The button opens the second candidate's; Close gives the keys back too.
    cards.nth(1).get_by_role("button", name="Interactive 3D view").click()
    check_viewer_draws(page, 3500, "32-cloud-viewer-second", screenshot)
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog", state="detached")
    page.keyboard.press("2")
    # Every closed viewer stopped drawing.
    closed = webgl_counts(page)
    page.wait_for_timeout(500)
    assert webgl_counts(page) == closed and closed[0] == 2, closed

    # Closed before its file arrived (the request held back here): nothing is built later.
    held = []
    page.route(
        "**/api/media/**",
        lambda route: held.append(route) if route.request.resource_type == "fetch" else route.continue_(),
    )
    page.keyboard.press("v")
    page.wait_for_selector("dialog.cloud[open]")
    while not held:
        page.wait_for_timeout(50)
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog", state="detached")
    with page.expect_event("requestfinished", lambda request: request.url == held[0].request.url):
        held[0].continue_()
    page.unroute("**/api/media/**")
    page.wait_for_timeout(500)
    assert webgl_counts(page) == closed
    page.keyboard.press("3")
    assert [cards.nth(i).get_attribute("data-label") for i in range(3)] == ["good", "partial", "bad"]
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-state=done]")
    row = Assignment.objects.get(pk=assignment)
    assert row.project_id == project.pk and row.state == Assignment.State.SUBMITTED
    assert [r.label for r in Rating.objects.filter(assignment=row).order_by("candidate__slot")] == [
        "good",
        "partial",
        "bad",
    ]
