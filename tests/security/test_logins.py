"""Failed logins are limited per (username, address) and per address, on every login path."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from annotation.api.logins import parse_rate
from tests.annotation.workflow_setup import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "s3cret-enough-pw"


@pytest.fixture
def limits(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PAIRRATE_LOGIN_FAILURES_PER_USER = "3/15m"
    settings.PAIRRATE_LOGIN_FAILURES_PER_ADDRESS = "6/15m"
    cache.clear()
    yield
    cache.clear()


def token(username, password, address="10.0.0.1"):
    return APIClient().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


def test_token_endpoint_refuses_after_failures_even_the_right_password(limits):
    make_user("alice", password=PASSWORD)
    for _ in range(3):
        assert token("alice", "wrong").status_code == 400
    refused = token("alice", PASSWORD)
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 900
    # Another address, or another user at this address, is not held back by alice's count.
    assert token("alice", PASSWORD, address="10.0.0.2").status_code == 200
    make_user("bob", password=PASSWORD)
    assert token("bob", PASSWORD).status_code == 200


def test_one_address_trying_many_usernames_is_refused(limits):
    make_user("carol", password=PASSWORD)
    for i in range(6):
        assert token(f"nobody{i}", "guess").status_code == 400
    assert token("carol", PASSWORD).status_code == 429
    assert token("carol", PASSWORD, address="10.0.0.9").status_code == 200


def test_session_login_page_is_limited_too(limits, client):
    make_user("dave", password=PASSWORD)
    for _ in range(3):
        page = client.post("/login/", {"username": "dave", "password": "wrong"}, REMOTE_ADDR="10.0.0.3")
        assert page.status_code == 200 and b"Wrong username or password" in page.content
    page = client.post("/login/", {"username": "dave", "password": PASSWORD}, REMOTE_ADDR="10.0.0.3")
    assert page.status_code == 429 and b"Too many failed logins" in page.content
    assert "_auth_user_id" not in client.session
    # The token endpoint shares the count: it is one user at one address.
    assert token("dave", PASSWORD, address="10.0.0.3").status_code == 429
    page = client.post("/login/", {"username": "dave", "password": PASSWORD}, REMOTE_ADDR="10.0.0.4")
    assert page.status_code == 302


def test_admin_login_is_limited_too(limits, client):
    make_user("erin", staff=True, password=PASSWORD)
    for _ in range(3):
        client.post("/admin/login/", {"username": "erin", "password": "wrong"}, REMOTE_ADDR="10.0.0.5")
    page = client.post("/admin/login/", {"username": "erin", "password": PASSWORD}, REMOTE_ADDR="10.0.0.5")
    assert b"Too many failed logins" in page.content and "_auth_user_id" not in client.session


def test_failure_rates_parse():
    assert parse_rate("10/15m") == (10, 900) and parse_rate("5/h") == (5, 3600) and parse_rate("3/30s") == (3, 30)
    with pytest.raises(ValueError):
        parse_rate("10 per minute")
