"""Fail at start-up, with one clear line, when the configured store cannot be reached.

Called by the web server (pairrate/wsgi.py), every Celery worker (tasks/celery_app.py,
worker_init) and Django's system checks (runserver, migrate, ...). The message names the
endpoint and bucket and which settings to look at, never the credentials.
"""

from __future__ import annotations

import logging

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .exceptions import StorageUnavailable

logger = logging.getLogger("pairrate.storage")
HINT = (
    "check PAIRRATE_STORAGE_URL, PAIRRATE_S3_ENDPOINT_URL and the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
    "of this process (docs/deploy.md, Object storage)"
)


def require_storage() -> None:
    """Raise ImproperlyConfigured when the store is misconfigured or unreachable."""
    from . import get_store

    try:
        get_store().check()
    except StorageUnavailable as exc:
        raise ImproperlyConfigured(f"{exc}; {HINT}") from None


@checks.register("pairrate")
def storage_reachable(app_configs=None, **kwargs):
    try:
        require_storage()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="pairrate.E001")]
    return []
