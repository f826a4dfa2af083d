"""Signed, expiring media URLs for annotators.

Annotators never get raw storage paths: `signed_url` wraps a MEDIA_ROOT path (or an
external URL) in a token signed with SECRET_KEY; `serve_signed` checks the signature and
age, then streams the file or redirects to the external URL. The token is the
authorisation, so `<img>`/`<video>` tags work without credentials.
"""
from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.http import FileResponse, Http404, HttpResponseForbidden, HttpResponseRedirect
from django.urls import get_script_prefix, reverse

from .media_paths import UnsafeMediaPath, is_remote_url, local_media_path

SALT = "pairrate.media"


def max_age() -> int:
    return int(getattr(settings, "PAIRRATE_MEDIA_URL_SECONDS", 3600))


def signed_url(media: str) -> str:
    """URL for a MEDIA_ROOT-relative path or an absolute http(s) URL; '' for no media."""
    if not media:
        return ""
    token = signing.dumps(media, salt=SALT, compress=True)  # URL-safe: base64 and ':' need no quoting
    return f"{_url_prefix(get_script_prefix())}{token}/"


@lru_cache(maxsize=16)
def _url_prefix(script_prefix: str) -> str:
    """The URL up to the token: reverse() cost as much as signing, for each of a payload's URLs."""
    return reverse("signed-media", args=["-"]).removesuffix("-/")


def derived_urls(item_id: int, modality: str) -> dict:
    """Signed URLs of the files the pipeline derived for an item, where they exist:
    `renders` (views, contact sheet, points for the 3D view) for point clouds, `poster` and `preview` for
    videos, `waveform` for audio."""
    from .pipeline.derived_media import derived_paths

    present = {name: relative for name, relative in derived_paths(modality, item_id).items()
               if local_media_path(relative).is_file()}
    if modality != "point_cloud":
        return {name: signed_url(relative) for name, relative in present.items()}
    renders = {}
    views = [signed_url(relative) for name, relative in sorted(present.items()) if name.startswith("view_")]
    if views:
        renders["views"] = views
    for name in ("sheet", "points"):
        if name in present:
            renders[name] = signed_url(present[name])
    return {"renders": renders} if renders else {}


def serve_signed(request, token: str):
    try:
        media = signing.loads(token, salt=SALT, max_age=max_age())
    except signing.SignatureExpired:
        return HttpResponseForbidden("media link expired")
    except signing.BadSignature:
        return HttpResponseForbidden("bad media link")
    if is_remote_url(media):
        if media.startswith(("http://", "https://")):
            return HttpResponseRedirect(media)
        raise Http404("media is in object storage that this server does not serve")
    try:
        path = local_media_path(media)  # symbolic links out of media storage are refused too
    except UnsafeMediaPath:
        raise Http404("no such media")
    if not path.is_file():
        raise Http404("no such media")
    return FileResponse(open(path, "rb"))
