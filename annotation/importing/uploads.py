"""Bundle uploads, bounded before and while the body arrives.

`refuse_oversized` reads only the Content-Length header: a larger request is refused (413)
before any byte of the body is read. `BundleUploadHandler` (installed by the imports view
before anything parses the body) streams the `bundle` file straight into its own folder under
PAIRRATE_UPLOAD_ROOT, counting bytes as they arrive, so a body that runs past the limit is
stopped too. Unpacking happens later, on the worker (runs.execute_run). With an object
store the web and the workers share no disk: `BundleUploadHandler.publish` then uploads the
bundle to the bucket as `uploads/<uuid>/<name>` (the run's source) and removes the local copy;
the worker fetches it into its own scratch and deletes the object when the import ends.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from .. import storage
from ..api.errors import Refusal
from .archives import ARCHIVE_SUFFIXES, is_archive

FIELD = "bundle"
UPLOAD_PREFIX = "uploads"  # storage names of uploads on an object store: uploads/<uuid hex>/<name>


def max_upload_bytes() -> int:
    return int(settings.PAIRRATE_MAX_UPLOAD_BYTES)


def too_large(size_words: str) -> Refusal:
    return Refusal(
        "upload_too_large",
        f"the upload ({size_words}) exceeds the limit of {max_upload_bytes()} bytes (PAIRRATE_MAX_UPLOAD_BYTES)",
        413,
    )


def refuse_oversized(request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refusal("invalid", "Content-Length is not a number") from None
    if length > max_upload_bytes():
        raise too_large(f"Content-Length {length}")


def safe_name(name: str) -> str:
    """The uploaded file's name reduced to [A-Za-z0-9._-]: shown in errors, never a path."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name or "").name)[-100:].lstrip(".")
    return base or "bundle"


class StoredUpload(UploadedFile):
    """An upload already on disk at `path` (in its own folder `folder`)."""

    def __init__(self, path: Path, name: str, size: int, content_type: str | None):
        super().__init__(file=None, name=name, content_type=content_type, size=size)
        self.path, self.folder = path, path.parent

    def open(self, mode="rb"):
        return open(self.path, mode)

    def close(self):
        """No handle is kept open: the bytes are on disk at `path`."""


class BundleUploadHandler(FileUploadHandler):
    """Writes the `bundle` field to PAIRRATE_UPLOAD_ROOT/<uuid>/<name>; other file fields are
    dropped. Raises 413 as soon as more than PAIRRATE_MAX_UPLOAD_BYTES have arrived."""

    chunk_size = 1 << 20

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0
        self.handle = None
        self.target: Path | None = None
        self.folders: list[Path] = []
        self.published: list[str] = []

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if field_name != FIELD:
            self.target = None
            return
        if self.folders:  # a second bundle would leave the first one behind
            self.discard()
            raise Refusal("invalid", "give one bundle file", 400, fields={FIELD: ["give one bundle file"]})
        if not is_archive(file_name or ""):
            raise Refusal(
                "invalid",
                f"upload a {', '.join(ARCHIVE_SUFFIXES)} bundle",
                400,
                fields={FIELD: [f"upload a {', '.join(ARCHIVE_SUFFIXES)} bundle"]},
            )
        folder = Path(settings.PAIRRATE_UPLOAD_ROOT) / uuid.uuid4().hex
        folder.mkdir(parents=True)
        self.folders.append(folder)
        self.target = folder / safe_name(file_name)
        self.handle = open(self.target, "xb")

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > max_upload_bytes():
            self.discard()
            raise too_large(f"more than {max_upload_bytes()} bytes received")
        if self.target is not None:
            self.handle.write(raw_data)
        return None  # no later handler keeps a copy

    def file_complete(self, file_size):
        if self.target is None:
            return None
        self.handle.close()
        return StoredUpload(self.target, self.file_name, file_size, self.content_type)

    def upload_interrupted(self):
        self.discard()

    def publish(self, upload: StoredUpload) -> str:
        """The import's source for this upload: its local path (local backend: the workers
        read the same volume), or, with an object store, the storage name it was uploaded to
        (not kept in this process's cache: only the worker reads it, once)."""
        if not storage.is_object_store():
            return str(upload.path)
        name = f"{UPLOAD_PREFIX}/{upload.folder.name}/{upload.path.name}"
        storage.publish(upload.path, name, cache=False)
        self.published.append(name)
        shutil.rmtree(upload.folder, ignore_errors=True)
        return name

    def discard(self) -> None:
        """Remove everything this request wrote (refused or failed requests)."""
        if self.handle is not None:
            self.handle.close()
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)
        for name in self.published:
            storage.delete(name)


def install(request) -> BundleUploadHandler:
    """Refuse by Content-Length, then make the bundle handler the only upload handler.
    Call before anything reads request.data / request.FILES."""
    refuse_oversized(request)
    handler = BundleUploadHandler(request)
    request.upload_handlers = [handler]
    return handler
