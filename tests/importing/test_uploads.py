"""Uploads are bounded before and while the body arrives: refused by Content-Length without
reading a byte (413), counted as they stream in, and nothing is left on disk."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from annotation.api.errors import Refusal
from annotation.importing.uploads import BundleUploadHandler
from annotation.models import ImportRun

pytestmark = pytest.mark.django_db


class UnreadableBody:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read

    def __iter__(self):
        raise AssertionError("the body was read")


@pytest.fixture
def admin_client():
    client = APIClient()
    client.force_authenticate(User.objects.create_user("admin", password="pw", is_staff=True))
    return client


@pytest.mark.parametrize("authenticated", [True, False])
def test_oversized_upload_is_refused_before_the_body_is_read(admin_client, settings, snapshot, authenticated):
    before = snapshot()
    client = admin_client if authenticated else APIClient()
    response = client.generic(
        "POST",
        "/api/imports/",
        b"",
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(settings.PAIRRATE_MAX_UPLOAD_BYTES + 1),
        **{"wsgi.input": UnreadableBody()},
    )
    assert response.status_code == 413
    assert response.json() == {
        "code": "upload_too_large",
        "detail": f"the upload (Content-Length {settings.PAIRRATE_MAX_UPLOAD_BYTES + 1}) exceeds the limit of "
        f"{settings.PAIRRATE_MAX_UPLOAD_BYTES} bytes (PAIRRATE_MAX_UPLOAD_BYTES)",
    }
    assert snapshot() == before and not ImportRun.objects.exists()
    assert not any(settings.PAIRRATE_UPLOAD_ROOT.iterdir())


def test_bytes_are_counted_as_they_arrive(settings):
    """For bodies whose length the server did not know up front (chunked): the handler stops
    at the limit and removes what it wrote."""
    settings.PAIRRATE_MAX_UPLOAD_BYTES = 10
    handler = BundleUploadHandler()
    handler.new_file("bundle", "b.zip", "application/zip", None)
    handler.receive_data_chunk(b"x" * 6, 0)
    assert [p.name for p in settings.PAIRRATE_UPLOAD_ROOT.glob("*/*")] == ["b.zip"]
    with pytest.raises(Refusal) as info:
        handler.receive_data_chunk(b"x" * 6, 6)
    assert info.value.status_code == 413 and "more than 10 bytes received" in info.value.message
    assert not any(settings.PAIRRATE_UPLOAD_ROOT.iterdir())


def test_upload_is_streamed_into_its_own_folder(admin_client, settings, make_bundle):
    """The bundle goes to disk once, under PAIRRATE_UPLOAD_ROOT (not memory or /tmp), with a
    sanitised name; the run records it as an upload for the worker to unpack and remove."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bundle/pairrate.json", "{}")
    buffer.seek(0)
    buffer.name = "../../my release!.zip"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    response = admin_client.post("/api/imports/", {"bundle": buffer}, format="multipart")
    assert response.status_code == 202, response.content
    run = ImportRun.objects.get()
    stored = list(settings.PAIRRATE_UPLOAD_ROOT.glob("*/*"))
    assert run.upload and [str(p) for p in stored] == [run.source]
    assert stored[0].name == "my_release_.zip" and stored[0].read_bytes() == buffer.getvalue()


@pytest.mark.django_db(transaction=True)
def test_oversized_upload_over_a_real_socket_gets_413_without_sending_the_body(live_server, settings):
    """Headers only, announcing 1 TB: the server answers at once (a read of the body would hang
    until the timeout)."""
    import socket
    from urllib.parse import urlsplit

    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=User.objects.create_user("root", password="pw", is_staff=True))
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(
            (
                f"POST /api/imports/ HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: Token {token.key}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {10**12}\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        reply = b""
        while chunk := connection.recv(65536):  # until the server closes the connection
            reply += chunk
        reply = reply.decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert '"code":"upload_too_large"' in reply.replace(" ", "")
    assert not any(settings.PAIRRATE_UPLOAD_ROOT.iterdir()) and not ImportRun.objects.exists()


def test_two_bundle_files_in_one_request_are_refused(admin_client, settings):
    import io

    files = []
    for name in ("a.zip", "b.zip"):
        handle = io.BytesIO(b"PK\x05\x06" + b"\0" * 18)
        handle.name = name
        files.append(handle)
    response = admin_client.post("/api/imports/", {"bundle": files}, format="multipart")
    assert response.status_code == 400 and response.json()["fields"]["bundle"] == ["give one bundle file"]
    assert not any(settings.PAIRRATE_UPLOAD_ROOT.iterdir()) and not ImportRun.objects.exists()
