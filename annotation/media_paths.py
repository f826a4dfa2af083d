"""One confinement rule for paths into media storage (settings.MEDIA_ROOT).

Every stored media value is either a remote URL with an allowed scheme (`is_remote_url`) or a
path relative to MEDIA_ROOT. Code that opens a file in media storage goes through
`local_media_path`, which refuses absolute paths, `..` escapes, NUL bytes and symlinks that
resolve outside MEDIA_ROOT (defence in depth: imports check the same rule, see
`check_media_value`).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_REMOTE_SCHEMES = ("http", "https", "s3")


class UnsafeMediaPath(ValueError):
    """A media path that would leave media storage (or is not a path at all)."""


def remote_schemes() -> tuple[str, ...]:
    return tuple(getattr(settings, "PAIRRATE_REMOTE_MEDIA_SCHEMES", DEFAULT_REMOTE_SCHEMES))


def is_remote_url(value: str) -> bool:
    """True for `scheme://host/...` with an allowed scheme (http, https, s3 by default)."""
    if not isinstance(value, str) or "://" not in value:
        return False
    parts = urlsplit(value)
    return parts.scheme.lower() in remote_schemes() and bool(parts.netloc)


def check_relative(relative: str, what: str = "media path", root_name: str = "the media root") -> PurePosixPath:
    """The lexical half of the rule: a non-empty relative path with no `..`, NUL, backslash
    or scheme. Raises UnsafeMediaPath with the reason (naming the path, never file content)."""
    if not isinstance(relative, str) or not relative:
        raise UnsafeMediaPath(f"{what} is empty or not a string")
    if "\x00" in relative:
        raise UnsafeMediaPath(f"{what} contains a NUL byte")
    if "\\" in relative:
        raise UnsafeMediaPath(f"{what} {relative!r} contains a backslash; use '/'")
    if "://" in relative:
        raise UnsafeMediaPath(
            f"{what} {relative!r} is a URL with a scheme that is not allowed (allowed: {', '.join(remote_schemes())})"
        )
    pure = PurePosixPath(relative)
    if not pure.parts or pure.parts == (".",):
        raise UnsafeMediaPath(f"{what} {relative!r} names no file")
    if pure.is_absolute():
        raise UnsafeMediaPath(f"{what} {relative!r} is absolute; give a path relative to {root_name}")
    if ".." in pure.parts:
        raise UnsafeMediaPath(f"{what} {relative!r} contains '..'; it must stay inside {root_name}")
    return pure


def check_media_value(value: str) -> str:
    """Validate a stored media value: an allowed remote URL, or a safe relative path. Returns it."""
    if is_remote_url(value):
        return value
    check_relative(value)
    return value


def confined(root: Path | str, relative: str, what: str = "media path", root_name: str = "the media root") -> Path:
    """`root / relative` resolved (symlinks included), refused unless it stays under `root`."""
    pure = check_relative(relative, what, root_name)
    base = Path(os.path.realpath(root))
    target = Path(os.path.realpath(base.joinpath(*pure.parts)))
    if target == base or base not in target.parents:
        raise UnsafeMediaPath(f"{what} {relative!r} resolves outside {root_name} (through a symbolic link)")
    return target


def local_media_path(relative: str) -> Path:
    """The file for a MEDIA_ROOT-relative path, confined to MEDIA_ROOT (see module doc)."""
    return confined(settings.MEDIA_ROOT, relative)
