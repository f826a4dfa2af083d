"""Helpers for object-store tests that run a worker process of their own.

The worker shares nothing with the test process but PostgreSQL, Redis and the bucket: its
own MEDIA_ROOT, upload folder and cache. Only one worker consumes the test broker at a
time, so tests using these do not also use the shared `running_worker`.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.objectstore import point_settings_at  # noqa: F401  (the storage tests import it from here)


def start_worker(worker_env: dict, store_env: dict, folder: Path, name: str, **extra: str):
    """A started worker on the object store of `store_env` (the object_store fixture's
    environment, or tests.objectstore.storage_env's)."""
    from tasks.celery_app import app
    from tests.conftest import WorkerProcess

    stop_other_workers()
    app.control.purge()
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **worker_env,
        **{k: v for k, v in store_env.items() if k.isupper()},
        "PAIRRATE_MEDIA_ROOT": str(folder / "media"),
        "PAIRRATE_UPLOAD_ROOT": str(folder / "uploads"),
        "PAIRRATE_STORAGE_CACHE_DIR": str(folder / "cache"),
        **extra,
    }
    worker = WorkerProcess(env, folder / "worker.log", name)
    worker.media_root = folder / "media"
    return worker.start()


def stop_other_workers(timeout: float = 30) -> None:
    """Shut down whatever worker consumes the test broker (the session's shared worker,
    which `running_worker` starts again when a later test needs it)."""
    from tasks.celery_app import app

    others = [name for reply in app.control.ping(timeout=0.5) for name in reply]
    if others:
        app.control.shutdown(destination=others)
        wait_for(
            lambda: [n for reply in app.control.ping(timeout=0.5) for n in reply if n in others],
            lambda alive: not alive,
            timeout,
            "the other workers to stop",
        )


def admin_client() -> APIClient:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("storage-admin", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def wait_for(fetch, done, timeout: float = 120, what: str = "work"):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {value}")
        time.sleep(0.1)


def presigned_download(client: APIClient, url: str, endpoint: str, seconds: int) -> bytes:
    """GET a download: it must redirect to a presigned URL of the bucket living `seconds`;
    the bytes are fetched from there, outside the web app."""
    response = client.get(url)
    assert response.status_code == 302, (url, response.status_code, getattr(response, "content", b"")[:300])
    location = response["Location"]
    assert location.startswith(endpoint + "/"), location
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == [str(seconds)]
    with urllib.request.urlopen(location) as got:
        return got.read()


def object_bytes(store_env: dict, name: str) -> tuple[bytes, dict]:
    """An object's bytes and metadata, read straight from the bucket."""
    from tests.objectstore import client

    s3 = client(store_env["PAIRRATE_S3_ENDPOINT_URL"])
    got = s3.get_object(Bucket=store_env["bucket"], Key=f"{store_env['prefix']}/{name}")
    return got["Body"].read(), got["Metadata"]
