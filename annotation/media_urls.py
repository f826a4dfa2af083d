"""Signed, expiring media URLs for annotators.

Annotators never get raw storage paths: `signed_url` wraps a storage name (or an external
URL) in a token signed with SECRET_KEY; `serve_signed` checks the signature and age, then
streams the file from the media root, or redirects: to a presigned URL of the object on the
object store backend (the bytes come from the bucket, not the web process), or to the
external URL. The token is the authorisation, so `<img>`/`<video>` tags work without
credentials.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from functools import lru_cache
from urllib.parse import urlsplit

from django.core import signing
from django.http import FileResponse, Http404, HttpResponseForbidden, HttpResponseRedirect
from django.urls import get_script_prefix, reverse

from . import storage
from .media_paths import UnsafeMediaPath, check_relative, is_remote_url, local_media_path
from .media_sources import read_in_place

SALT = "pairrate.media"
# On the object store, which derived files an item has is looked up once per item and
# remembered this long: the annotators' `next` builds 100+ payloads a second, and derived
# files are made before a project is ready (a launch's media stage), so they rarely change.
DERIVED_CACHE_SECONDS = 60.0
DERIVED_CACHE_ITEMS = 100_000


def max_age() -> int:
    return storage.media_url_seconds()


def signed_url(media: str) -> str:
    """URL for a storage name or an absolute http(s) / s3 URL; '' for no media."""
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
    present = _present_derived(modality, item_id)
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


_derived_lock = threading.Lock()
_derived_seen: OrderedDict = OrderedDict()


def _present_derived(modality: str, item_id: int) -> dict[str, str]:
    """derived_media.present_paths: straight from the media root locally (a few stats), through
    a small time-bounded memory on the object store (at most one store call per item, and then
    none for DERIVED_CACHE_SECONDS)."""
    from .pipeline.derived_media import derived_paths, present_paths

    if not derived_paths(modality, item_id):
        return {}
    store = storage.get_store()
    if store.kind != "s3":
        return present_paths(modality, item_id)
    key, now = (store.describe(), modality, item_id), time.monotonic()
    with _derived_lock:
        seen = _derived_seen.get(key)
        if seen is not None and seen[0] > now:
            _derived_seen.move_to_end(key)
            return seen[1]
    present = present_paths(modality, item_id)
    with _derived_lock:
        _derived_seen[key] = (now + DERIVED_CACHE_SECONDS, present)
        _derived_seen.move_to_end(key)
        while len(_derived_seen) > DERIVED_CACHE_ITEMS:
            _derived_seen.popitem(last=False)
    return present


def serve_signed(request, token: str):
    try:
        media = signing.loads(token, salt=SALT, max_age=max_age())
    except signing.SignatureExpired:
        return HttpResponseForbidden("media link expired")
    except signing.BadSignature:
        return HttpResponseForbidden("bad media link")
    if is_remote_url(media):
        return _remote_media(media)
    if storage.is_object_store():
        try:  # no lookup first: the bucket answers 404 itself for an object that is gone
            url = storage.get_store().presigned_url(media, storage.media_url_seconds())
        except UnsafeMediaPath:
            raise Http404("no such media")
        return HttpResponseRedirect(url)
    try:
        path = local_media_path(media)  # symbolic links out of media storage are refused too
    except UnsafeMediaPath:
        raise Http404("no such media")
    if not path.is_file():
        raise Http404("no such media")
    return FileResponse(open(path, "rb"))


def _remote_media(media: str):
    """External media: http(s) as it is; media in place in a bucket as a presigned URL when
    this server has the object store's credentials."""
    if media.startswith(("http://", "https://")):
        return HttpResponseRedirect(media)
    if not read_in_place(media):
        raise Http404("media is in object storage that this server does not serve")
    try:
        check_relative(urlsplit(media).path.lstrip("/"), "object key", "the bucket")
    except UnsafeMediaPath:
        raise Http404("no such media")
    return HttpResponseRedirect(storage.get_store().presigned_url_for(media, storage.media_url_seconds()))
