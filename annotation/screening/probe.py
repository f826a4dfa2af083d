"""Probe one media file: does it decode as what it claims to be? No Django here.

The source datasets were screened "for missing URLs, corrupted files, variable frame
rates" before use; these checks do the same for local files, one function per
modality. Each returns `None` when the file is fine, or a short reason ("corrupt JPEG:
image file is truncated", "variable frame rate: ...", "no decodable audio stream",
"non-finite coordinates: ..."). Nothing here opens a path it is not given: callers
resolve and confine paths first, or fetch a local copy of an object (storage.local_media).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Defaults; the worker reads PAIRRATE_SCREEN_* settings over them.
FRAME_RATE_TOLERANCE = 0.10  # largest relative deviation of a frame interval from the median
DECODE_FRAMES = 8  # video / audio frames actually decoded, from the start
MIN_POINTS = 16  # a point cloud (or sampled mesh) with fewer points is refused
MESH_SAMPLE_POINTS = 2048  # surface points sampled to check a mesh


@dataclass(frozen=True)
class Limits:
    frame_rate_tolerance: float = FRAME_RATE_TOLERANCE
    decode_frames: int = DECODE_FRAMES
    min_points: int = MIN_POINTS


def probe(path: Path, modality: str, limits: Limits = Limits()) -> str | None:
    """None when `path` is a usable file of `modality`, else why it is not."""
    path = Path(path)
    if not path.is_file():
        return "file not found"
    if path.stat().st_size == 0:
        return "empty file"
    probes = {"image": probe_image, "video": probe_video, "audio": probe_audio, "point_cloud": probe_point_cloud}
    if modality not in probes:
        return f"unknown modality {modality!r}"
    try:
        return probes[modality](path, limits)
    except Exception as exc:  # decoders fail in many ways on hostile input; never crash a batch
        return _short(f"cannot read {modality} ({type(exc).__name__}: {exc})")


def _short(reason: str, limit: int = 300) -> str:
    reason = " ".join(str(reason).split())
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


# ---- images -------------------------------------------------------------------------


def probe_image(path: Path, limits: Limits = Limits()) -> str | None:
    """Pillow identifies the file, verifies its structure, then decodes every pixel."""
    from PIL import Image, UnidentifiedImageError

    kind = path.suffix.lstrip(".").upper() or "image"  # until Pillow names the format
    try:
        with Image.open(path) as image:
            kind = image.format or kind
            image.verify()  # structure and checksums (PNG CRCs), without decoding
        with Image.open(path) as image:
            image.load()  # the full decode: a truncated or garbled body fails here
            width, height = image.size
    except UnidentifiedImageError:
        return "not an image Pillow can identify"
    except Image.DecompressionBombError as exc:
        return _short(f"image too large: {exc}")
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's corrupt-data errors
        return _short(f"corrupt {kind}: {exc}")
    if width == 0 or height == 0:
        return f"empty image ({width}x{height})"
    return None


# ---- video and audio ----------------------------------------------------------------


def probe_video(path: Path, limits: Limits = Limits()) -> str | None:
    """A video stream that decodes, has a duration and a constant frame rate."""
    scan = _scan(path, "video", limits)
    if isinstance(scan, str):
        return scan
    pts, frames, time_base = scan
    if frames and len(pts) < frames:  # the index lists frames whose bytes are gone
        return f"truncated video: {len(pts)} of {frames} frames present"
    return _frame_rate_problem(np.sort(np.asarray(pts, dtype=np.int64)), time_base, limits.frame_rate_tolerance)


def probe_audio(path: Path, limits: Limits = Limits()) -> str | None:
    """An audio stream whose first packets decode to samples, and a duration."""
    scan = _scan(path, "audio", limits)
    return scan if isinstance(scan, str) else None


def _scan(path: Path, kind: str, limits: Limits):
    """Demux every packet of the first `kind` stream (cheap), decode the first
    `decode_frames` frames (the real test), read the duration. A reason string, or
    (packet pts, frames the index declares, time base)."""
    import av

    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        return _short(f"cannot open container: {exc.strerror or exc}")
    with container:
        streams = container.streams.video if kind == "video" else container.streams.audio
        if not streams:
            return f"no {kind} stream"
        stream = streams[0]
        pts, decoded, decode_error = [], 0, ""
        try:
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None:
                    pts.append(packet.pts)
                if decoded < limits.decode_frames and not decode_error:
                    try:
                        decoded += len(packet.decode())
                    except av.FFmpegError as exc:
                        decode_error = exc.strerror or str(exc)
        except av.FFmpegError as exc:
            return _short(f"corrupt {kind}: {exc.strerror or exc}")
        if not decoded:
            return _short(f"no decodable {kind} stream" + (f" ({decode_error})" if decode_error else ""))
        if decode_error:
            return _short(f"corrupt {kind}: {decode_error}")
        duration = _duration(container, stream)
        if not duration or duration <= 0:
            return "no duration"
        return pts, stream.frames, stream.time_base


def _frame_rate_problem(pts: np.ndarray, time_base, tolerance: float) -> str | None:
    """Frame intervals (presentation order) must stay within `tolerance` of their median;
    one time-base tick of rounding is always allowed."""
    if len(pts) < 3:
        return None
    deltas = np.diff(pts).astype(np.float64)
    median = float(np.median(deltas))
    if median <= 0:
        return "variable frame rate: repeated frame timestamps"
    if np.abs(deltas - median).max() > tolerance * median + 1:
        tick = float(time_base) * 1000
        return (
            f"variable frame rate: frame intervals {deltas.min() * tick:.1f}-{deltas.max() * tick:.1f} ms "
            f"(median {median * tick:.1f} ms, tolerance {tolerance:.0%})"
        )
    return None


def _duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


# ---- point clouds and meshes --------------------------------------------------------


def probe_point_cloud(path: Path, limits: Limits = Limits()) -> str | None:
    """The file loads with sampling.pointcloud_io's readers; every coordinate is finite
    and there are at least `min_points` points (meshes: sampled surface points)."""
    from sampling import pointcloud_io as pio

    suffix = path.suffix.lower()
    if suffix not in pio.SUPPORTED_SUFFIXES:
        return f"unsupported point-cloud format {suffix or '(no suffix)'!r}"
    try:
        if suffix == ".pcd":
            cloud = pio.read_pcd(path)
        elif suffix in (".npy", ".npz"):
            cloud = pio.read_numpy(path)
        else:
            cloud = pio.read_with_trimesh(path, MESH_SAMPLE_POINTS, seed=0)
    except pio.PointCloudError as exc:
        return _short(exc.reason)
    except Exception as exc:
        return _short(f"cannot parse {suffix} file ({type(exc).__name__}: {exc})")
    points = np.asarray(cloud.points)
    if points.ndim != 2 or points.shape[1] != 3:
        return f"expected points of shape [N, 3], got {points.shape}"
    bad = int((~np.isfinite(points).all(axis=1)).sum())
    if bad:
        return f"non-finite coordinates: {bad} of {len(points)} points"
    if len(points) < limits.min_points:
        return f"too few points: {len(points)} < {limits.min_points}"
    return None
