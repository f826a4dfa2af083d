"""Files as objects in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO), through
django-storages' S3Storage and boto3's transfer manager.

Writers fill a local temp file and publish it with a streamed multipart upload (constant
memory, atomic: an object is visible only once its upload completes); readers get a local
copy from the machine's size-bounded DiskCache, so a worker downloads a shard once and
memory-maps it from there. Every call rides out a store outage for retry_seconds (logged,
then StorageUnavailable); a missing object is FileNotFoundError, as on a file system.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import posixpath
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar
from urllib.parse import quote, urlsplit

import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from django.http import HttpResponseRedirect

from ..media_paths import check_relative
from .cache import DiskCache
from .config import StorageConfig
from .exceptions import StorageError, StorageUnavailable

logger = logging.getLogger("pairrate.storage")
T = TypeVar("T")
MULTIPART_BYTES = 16 * 1024 * 1024
RETRYABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ResponseStreamingError,
)
RETRYABLE_CODES = {"500", "502", "503", "504", "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}


def _is_missing(exc: botocore.exceptions.ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RETRYABLE):
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code")) in RETRYABLE_CODES
    # s3transfer wraps connection errors of a multipart transfer in its own exceptions
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and _is_retryable(cause)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ObjectStore:
    kind = "s3"

    def __init__(self, config: StorageConfig):
        from storages.backends.s3 import S3Storage

        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix
        client_config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        common = dict(
            bucket_name=config.bucket,
            location=config.prefix,
            region_name=config.region,
            file_overwrite=True,
            client_config=client_config,
            signature_version="s3v4",
            addressing_style="path",
            querystring_auth=True,
        )
        self.storage = S3Storage(endpoint_url=config.endpoint_url or None, **common)
        # Presigned URLs name the endpoint browsers reach (PAIRRATE_S3_PUBLIC_ENDPOINT_URL) when
        # it differs from the one the servers use; signing needs no connection.
        self.signer = (
            S3Storage(endpoint_url=config.public_endpoint_url, **common) if config.public_endpoint_url else self.storage
        )
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES, max_concurrency=4
        )
        self.cache = DiskCache(config.cache_dir, config.cache_bytes)
        self.scratch = config.media_root / ".scratch"

    # -- naming ------------------------------------------------------------------------

    def describe(self) -> str:
        return self.config.describe()

    def key(self, name: str) -> str:
        check_relative(name, "storage name", "the bucket prefix")
        return posixpath.join(self.prefix, name) if self.prefix else name

    @property
    def client(self):
        return self.storage.connection.meta.client  # thread-local, as django-storages keeps it

    # -- reading -----------------------------------------------------------------------

    def head(self, name: str, bucket: str = "", key: str = "") -> dict:
        bucket, key = bucket or self.bucket, key or self.key(name)
        try:
            return self._retry(lambda: self.client.head_object(Bucket=bucket, Key=key), f"looking up {name}")
        except botocore.exceptions.ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"no such file in storage: {name}") from None
            raise StorageError(f"storage refused to look up {name}: {exc.response['Error'].get('Code')}") from None

    def local_path(self, name: str) -> Path:
        return self._cached(name, self.bucket, self.key(name))

    def local_path_for_url(self, url: str) -> Path:
        """A local copy of media referenced in place (s3://bucket/key), through the cache."""
        parts = urlsplit(url)
        key = parts.path.lstrip("/")
        check_relative(key, "object key", "the bucket")
        return self._cached(url, parts.netloc, key)

    def _cached(self, name: str, bucket: str, key: str) -> Path:
        head = self.head(name, bucket, key)
        download = lambda temp: self._retry(  # noqa: E731
            lambda: self.client.download_file(bucket, key, str(temp), Config=self.transfer), f"reading {name}"
        )
        return self.cache.get(f"{bucket}/{key}", head["ETag"], head["ContentLength"], download)

    def exists(self, name: str) -> bool:
        try:
            self.head(name)
        except FileNotFoundError:
            return False
        return True

    def size(self, name: str) -> int:
        return int(self.head(name)["ContentLength"])

    def sha256(self, name: str) -> str:
        """The checksum kept with the object at upload ('' when it was uploaded elsewhere)."""
        try:
            return self.head(name).get("Metadata", {}).get("sha256", "")
        except FileNotFoundError:
            return ""

    def list_folder(self, name: str) -> list[str]:
        prefix = self.key(name).rstrip("/") + "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        names = []
        pages = self._retry(
            lambda: list(self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)),
            f"listing {name}",
        )
        for page in pages:
            names += [item["Key"][strip:] for item in page.get("Contents", [])]
        return sorted(names)

    def open_read(self, name: str):
        return open(self.local_path(name), "rb")

    # -- writing -----------------------------------------------------------------------

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        self.key(name)  # refuse a bad name before any work
        self.scratch.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=self.scratch, suffix=Path(name).suffix)
        os.close(handle)
        try:
            yield Path(temp)
            self.publish(Path(temp), name)
        finally:
            Path(temp).unlink(missing_ok=True)

    @contextmanager
    def writing_folder(self, name: str, checksums: dict | None = None) -> Iterator[Path]:
        """A local folder whose files replace the objects under `name/` when the block ends
        (uploaded first, then the stale ones deleted; the database says when it is done).
        `checksums` (path in the folder -> sha256), filled by the caller inside the block,
        spares hashing files it already hashed while writing them."""
        self.key(name)
        temp = self.scratch / uuid.uuid4().hex
        temp.mkdir(parents=True)
        try:
            yield temp
            written = set()
            for path in sorted(p for p in temp.rglob("*") if p.is_file()):
                inside = path.relative_to(temp).as_posix()
                relative = f"{name}/{inside}"
                self.publish(path, relative, (checksums or {}).get(inside, ""))
                written.add(relative)
            for stale in set(self.list_folder(name)) - written:
                self.delete(stale)
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def publish(self, local: Path, name: str, sha256: str = "", cache: bool = True) -> None:
        """Upload a finished local file as `name` (multipart, streamed), keeping its sha256
        with the object; the local file becomes the cached copy (unless `cache` is False: a
        file read once elsewhere, such as an upload, is left where it is)."""
        key = self.key(name)
        sha256 = sha256 or file_sha256(local)
        extra = {
            "Metadata": {"sha256": sha256},  # browsers get the right type from AWS too
            "ContentType": mimetypes.guess_type(name)[0] or "application/octet-stream",
        }
        self._retry(
            lambda: self.client.upload_file(str(local), self.bucket, key, Config=self.transfer, ExtraArgs=extra),
            f"writing {name}",
        )
        if cache:
            etag = self.head(name)["ETag"]
            self.cache.adopt(f"{self.bucket}/{key}", etag, Path(local))

    def fetch(self, name: str, target: Path) -> None:
        """Download `name` to `target`, bypassing the cache (for files read once, such as an
        uploaded bundle). FileNotFoundError when there is no such object."""
        self.head(name)
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._retry(
            lambda: self.client.download_file(self.bucket, self.key(name), str(target), Config=self.transfer),
            f"reading {name}",
        )

    def copy(self, source: str, target: str) -> None:
        self._retry(
            lambda: self.client.copy(
                {"Bucket": self.bucket, "Key": self.key(source)}, self.bucket, self.key(target), Config=self.transfer
            ),
            f"copying {source}",
        )

    def delete(self, name: str) -> None:
        self._retry(lambda: self.client.delete_object(Bucket=self.bucket, Key=self.key(name)), f"deleting {name}")

    def delete_folder(self, name: str) -> None:
        names = self.list_folder(name)
        for start in range(0, len(names), 1000):
            batch = [{"Key": self.key(n)} for n in names[start : start + 1000]]
            self._retry(
                lambda: self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch}), f"deleting {name}/"
            )

    # -- serving -----------------------------------------------------------------------

    def presigned_url(self, name: str, seconds: int, filename: str = "", attachment: bool = False) -> str:
        parameters = {}
        if filename or attachment:
            disposition = "attachment" if attachment else "inline"
            parameters["ResponseContentDisposition"] = (
                f"{disposition}; filename*=UTF-8''{quote(filename or Path(name).name)}"
            )
        self.key(name)
        return self.signer.url(name, parameters=parameters, expire=int(seconds))

    def presigned_url_for(self, url: str, seconds: int) -> str:
        """A presigned GET of media referenced in place (s3://bucket/key)."""
        parts = urlsplit(url)
        client = self.signer.connection.meta.client
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": parts.netloc, "Key": parts.path.lstrip("/")}, ExpiresIn=int(seconds)
        )

    def file_response(self, name: str, filename: str = "", attachment: bool = False, seconds: int = 300):
        """A redirect to a presigned URL: the bytes come from the bucket, not this process."""
        if not self.exists(name):
            raise FileNotFoundError(name)
        return HttpResponseRedirect(self.presigned_url(name, seconds, filename, attachment))

    # -- health ------------------------------------------------------------------------

    def check(self) -> None:
        """Fail fast, with a clear message, when the bucket cannot be reached."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in {"404", "NoSuchBucket", "NotFound"} and self.config.create_bucket:
                self.client.create_bucket(Bucket=self.bucket)
                return
            raise StorageUnavailable(
                f"{self.describe()}: the bucket answered {code} (missing bucket, or credentials refused)"
            ) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise StorageUnavailable(f"{self.describe()} is unreachable: {type(exc).__name__}") from None

    def cache_stats(self) -> dict:
        return self.cache.stats()

    def _retry(self, call: Callable[[], T], what: str) -> T:
        deadline = time.monotonic() + self.config.retry_seconds
        delay = 0.25
        while True:
            try:
                return call()
            except Exception as exc:  # noqa: BLE001 - only store outages are retried, below
                if not _is_retryable(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    raise StorageUnavailable(
                        f"{self.describe()} did not answer for {self.config.retry_seconds:g} s while "
                        f"{what}: {type(exc).__name__}"
                    ) from None
                logger.warning(
                    "object store unreachable, retrying",
                    extra={"storage": self.describe(), "doing": what, "error": type(exc).__name__, "retry_in": delay},
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
