"""/api/docs/ (Swagger UI) and /api/redoc/ load their scripts and styles from this server
(drf-spectacular-sidecar), not from a CDN: the docs work without internet."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_assets_are_served_locally(client, url):
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    styles = re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', html)
    assets = scripts + [s for s in styles if not s.startswith("https://fonts.")]  # Redoc's fonts fall back
    assert scripts and "cdn" not in html.lower()
    for asset in assets:
        assert asset.startswith(settings.STATIC_URL), asset
        assert finders.find(asset.removeprefix(settings.STATIC_URL)), f"{asset} is not a static file here"
