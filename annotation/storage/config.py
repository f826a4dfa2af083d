"""Which backend holds pairrate's files, from one setting: PAIRRATE_STORAGE_URL.

'' (the default) is the local media root (settings.MEDIA_ROOT); `s3://bucket/prefix` is an
S3-compatible object store. Endpoint and region come from PAIRRATE_S3_* settings, the
credentials only from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, read by
boto3 itself), so they never sit in settings, logs, errors or API responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class StorageConfig:
    kind: str  # "local" or "s3"
    media_root: Path
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str = ""
    public_endpoint_url: str = ""
    region: str = ""
    cache_dir: Path = Path()
    cache_bytes: int = 0
    retry_seconds: float = 0.0
    create_bucket: bool = False

    def describe(self) -> str:
        """Where the files are, for logs and errors (no credentials: they are not in here)."""
        if self.kind == "local":
            return f"local folder {self.media_root}"
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        path = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"object store s3://{path}{where}"


def parse_storage_url(url: str) -> tuple[str, str, str]:
    """(kind, bucket, prefix) of PAIRRATE_STORAGE_URL; raises ImproperlyConfigured."""
    if not url:
        return "local", "", ""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ImproperlyConfigured(
            f"PAIRRATE_STORAGE_URL must be empty (local files) or s3://bucket/prefix, not a {parts.scheme!r} URL"
        )
    if "@" in parts.netloc or parts.password or parts.username:
        raise ImproperlyConfigured(
            "PAIRRATE_STORAGE_URL must not carry credentials; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY in the environment instead"
        )
    if not parts.netloc:
        raise ImproperlyConfigured("PAIRRATE_STORAGE_URL names no bucket (s3://bucket/prefix)")
    if parts.query or parts.fragment:
        raise ImproperlyConfigured("PAIRRATE_STORAGE_URL takes no query or fragment (s3://bucket/prefix)")
    return "s3", parts.netloc, parts.path.strip("/")


def current() -> StorageConfig:
    kind, bucket, prefix = parse_storage_url(getattr(settings, "PAIRRATE_STORAGE_URL", ""))
    return StorageConfig(
        kind=kind,
        media_root=Path(settings.MEDIA_ROOT),
        bucket=bucket,
        prefix=prefix,
        endpoint_url=getattr(settings, "PAIRRATE_S3_ENDPOINT_URL", ""),
        public_endpoint_url=getattr(settings, "PAIRRATE_S3_PUBLIC_ENDPOINT_URL", ""),
        region=getattr(settings, "PAIRRATE_S3_REGION", "") or "us-east-1",
        cache_dir=Path(getattr(settings, "PAIRRATE_STORAGE_CACHE_DIR", Path(settings.MEDIA_ROOT) / ".cache")),
        cache_bytes=int(getattr(settings, "PAIRRATE_STORAGE_CACHE_BYTES", 10 * 1024**3)),
        retry_seconds=float(getattr(settings, "PAIRRATE_STORAGE_RETRY_SECONDS", 120)),
        create_bucket=bool(getattr(settings, "PAIRRATE_S3_CREATE_BUCKET", False)),
    )
