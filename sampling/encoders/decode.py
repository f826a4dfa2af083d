"""Media decoding for the encoders: photos (Pillow), audio and video (PyAV), point clouds.

Each decoder takes a local path and returns what the model's preprocessor wants, or raises
`MediaDecodeError` with a short reason. Decoding runs in worker threads (`decoded_batches`)
so the model is never waiting on a file: Pillow and PyAV release the GIL while they decode.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

MAX_UNTIMED_FRAMES = 2000


class MediaDecodeError(ValueError):
    """A media file the encoder cannot read; `reason` is stored beside the item."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise MediaDecodeError(f"image does not decode: {exc}") from None


def decode_audio(path: Path, sample_rate: int, max_seconds: float) -> np.ndarray:
    """Mono float32 samples at `sample_rate`, the first `max_seconds` of the file.

    Cropping here (not in the feature extractor) keeps CLAP's preprocessing deterministic:
    its own crop of long audio is random."""
    import av

    limit = int(sample_rate * max_seconds)
    chunks, total = [], 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaDecodeError("no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    chunks.append(samples)
                    total += len(samples)
                if total >= limit:
                    break
    except MediaDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise MediaDecodeError(f"audio does not decode: {exc}") from None
    if not total:
        raise MediaDecodeError("audio stream holds no samples")
    return np.concatenate(chunks)[:limit].astype(np.float32, copy=False)


def decode_video_frames(path: Path, frames: int) -> list:
    """`frames` RGB frames spread evenly over the clip's duration.

    Decodes sequentially and keeps, for each of `frames` evenly spaced times, the first frame
    at or after it, so memory holds `frames` images whatever the clip's length. A clip with no
    known duration keeps every frame (up to MAX_UNTIMED_FRAMES) and picks among them."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaDecodeError("no video stream")
            stream = container.streams.video[0]
            duration = None
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / 1_000_000
            kept = []
            if duration and duration > 0:
                targets = np.linspace(0.0, duration, num=frames, endpoint=False)
                start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
                for frame in container.decode(stream):
                    when = (frame.time or 0.0) - start
                    while len(kept) < frames and when >= targets[len(kept)] - 1e-6:
                        kept.append(frame.to_image())
                    if len(kept) == frames:
                        break
                last = kept[-1] if kept else None
                kept += [last] * (frames - len(kept)) if last is not None else []
            else:
                for frame in container.decode(stream):
                    kept.append(frame.to_image())
                    if len(kept) >= MAX_UNTIMED_FRAMES:
                        break
                if kept:
                    picks = np.linspace(0, len(kept) - 1, num=frames).round().astype(int)
                    kept = [kept[i] for i in picks]
    except MediaDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise MediaDecodeError(f"video does not decode: {exc}") from None
    if not kept:
        raise MediaDecodeError("video stream holds no frames")
    return [image.convert("RGB") for image in kept]


def decode_points(path: Path, points: int) -> np.ndarray:
    """float32 [points, 3], centred in the unit sphere; the same file always gives the same cloud."""
    from ..pointcloud_io import PointCloudError, load_point_cloud

    try:
        cloud = load_point_cloud(path, n_points=points, seed=0, normalize=True).points
    except PointCloudError as exc:
        raise MediaDecodeError(exc.reason) from None
    if len(cloud) == 0:
        raise MediaDecodeError("no points")
    if len(cloud) < points:  # small clouds repeat their points, in order, to the fixed size
        cloud = cloud[np.arange(points) % len(cloud)]
    return np.ascontiguousarray(cloud[:points], dtype=np.float32)


def decoded_batches(
    paths: Sequence[Path], decode: Callable, batch_size: int, threads: int
) -> Iterator[tuple[list[int], list, list[tuple[int, str]]]]:
    """Yield (indices, decoded values, failures [(index, reason)]) batch by batch, in order.

    At most two batches are decoding ahead of the consumer, so memory stays bounded by the
    batch size whatever the number of paths."""
    starts = range(0, len(paths), batch_size)

    def one(index: int):
        try:
            return index, decode(paths[index]), None
        except MediaDecodeError as exc:
            return index, None, exc.reason

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        pending = []
        for start in starts:
            pending.append([pool.submit(one, i) for i in range(start, min(start + batch_size, len(paths)))])
            if len(pending) < 2:
                continue
            yield _collect(pending.pop(0))
        while pending:
            yield _collect(pending.pop(0))


def _collect(futures) -> tuple[list[int], list, list[tuple[int, str]]]:
    indices, values, failures = [], [], []
    for future in futures:
        index, value, reason = future.result()
        if reason is None:
            indices.append(index)
            values.append(value)
        else:
            failures.append((index, reason))
    return indices, values, failures
