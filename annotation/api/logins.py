"""The limit on failed logins, for the token endpoint and the login pages.

Every failed authenticate() (token endpoint, /login/, /admin/login/) is counted in the
cache per (username, client address) and per client address, in fixed windows; a login
from a key over its limit is refused before the password is checked: 429 with Retry-After
from the token endpoint, a message (and 429) on the login pages. The counters live in Django's
cache: production needs a cache shared by all web processes (PAIRRATE_CACHE_URL, Redis).
"""

from __future__ import annotations

import hashlib
import re
import time

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from rest_framework import parsers, throttling
from rest_framework.authtoken.views import ObtainAuthToken

from .parsers import LimitedJSONParser


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'10/15m' -> (10, 900): at most 10 failures per 15-minute window."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*", rate)
    if not match:
        raise ValueError(f"login failure rate {rate!r} is not like '10/15m'")
    return int(match[1]), int(match[2] or 1) * _UNITS[match[3]]


def _counters(request, username) -> list[tuple[str, int, int]]:
    """(cache key stem, limit, window seconds) of the keys this login attempt counts against."""
    address = (throttling.BaseThrottle().get_ident(request) if request is not None else None) or "unknown"
    user = str(username or "").strip().casefold()[:150]
    keys = [
        (f"user\0{user}\0{address}", settings.PAIRRATE_LOGIN_FAILURES_PER_USER),
        (f"address\0{address}", settings.PAIRRATE_LOGIN_FAILURES_PER_ADDRESS),
    ]
    out = []
    for stem, rate in keys:
        limit, window = parse_rate(rate)
        out.append((f"pairrate:login-failures:{hashlib.sha256(stem.encode()).hexdigest()[:32]}", limit, window))
    return out


def login_wait(request, username) -> int | None:
    """Seconds until this (username, address) may try again, or None when it may now."""
    now = time.time()
    waits = []
    for stem, limit, window in _counters(request, username):
        if cache.get(f"{stem}:{int(now // window)}", 0) >= limit:
            waits.append(int(window - now % window) + 1)
    return max(waits) if waits else None


@receiver(user_login_failed, dispatch_uid="pairrate-count-failed-login")
def count_failed_login(sender, credentials, request=None, **kwargs):
    now = time.time()
    for stem, _, window in _counters(request, credentials.get("username")):
        key = f"{stem}:{int(now // window)}"
        cache.add(key, 0, timeout=window + 1)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window + 1)


class FailedLoginThrottle(throttling.BaseThrottle):
    """DRF throttle for the token endpoint: 429 once the caller's failures reach a limit."""

    def allow_request(self, request, view) -> bool:
        data = request.data
        self._wait = login_wait(request, data.get("username") if hasattr(data, "get") else None)
        return self._wait is None

    def wait(self):
        return self._wait


class ObtainToken(ObtainAuthToken):
    """POST /api/auth/token/: DRF's token login with the failed-login throttle and the API's
    JSON parser (the stock view parses JSON without a nesting limit)."""

    parser_classes = (LimitedJSONParser, parsers.FormParser, parsers.MultiPartParser)
    throttle_classes = (FailedLoginThrottle,)


class _ThrottledLoginForm:
    """Refuses the login form while its (username, address) is over the failure limit."""

    throttled = ""

    def clean(self):
        wait = login_wait(self.request, self.data.get("username"))
        if wait is not None:
            self.throttled = f"Too many failed logins. Try again in {wait} seconds."
            raise forms.ValidationError(self.throttled, code="throttled")
        return super().clean()


class ThrottledAuthenticationForm(_ThrottledLoginForm, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(_ThrottledLoginForm, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    """Django's login page with the failed-login limit (429 while refused)."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
        return response
