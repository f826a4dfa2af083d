"""Files annotators see instead of raw media: point-cloud renders, video posters and
previews, audio waveforms. Originals stay where they are; derived files go to media
storage under renders/, posters/, previews/, waveforms/ (see derived_paths).

Each file is written under a temp name and renamed, so a killed worker never leaves
a half file that a retry would skip.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..media_paths import confined

RENDER_VIEWS = 8
RENDER_SIZE = 512
POSTER_WIDTH = 640
PREVIEW_WIDTH = 320
PREVIEW_SECONDS = 4.0
WAVEFORM_SIZE = (800, 160)
VIEWER_POINTS = 50_000  # the browser's 3D view gets this many points (0.6 MB) in any input format


def derived_paths(modality: str, item_id: int) -> dict[str, str]:
    """Where an item's derived files live, relative to MEDIA_ROOT."""
    if modality == "point_cloud":
        views = {f"view_{v:02d}": f"renders/{item_id}/view_{v:02d}.webp" for v in range(RENDER_VIEWS)}
        return {**views, "sheet": f"renders/{item_id}/sheet.webp", "points": f"renders/{item_id}/points.npy"}
    if modality == "video":
        return {"poster": f"posters/{item_id}.jpg", "preview": f"previews/{item_id}.mp4"}
    if modality == "audio":
        return {"waveform": f"waveforms/{item_id}.png"}
    return {}


def _atomic_target(final: Path) -> Path:
    """A temp file beside `final`, readable by the web server once renamed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-", suffix=final.suffix)
    os.close(handle)
    os.chmod(temp, 0o644)
    return Path(temp)


def render_point_clouds(sources: list[tuple[int, Path]], media_root: Path, device=None) -> dict:
    """Render several clouds in one batch (one GPU launch). Unreadable files are counted
    and skipped, not allowed to fail the batch."""
    from sampling import pointcloud_io, render

    todo = [(item_id, path) for item_id, path in sources
            if not confined(media_root, derived_paths("point_cloud", item_id)["sheet"]).is_file()]
    loaded, broken = [], 0
    for item_id, path in todo:
        try:
            loaded.append((item_id, pointcloud_io.load_point_cloud(path, n_points=100_000, seed=item_id)))
        except pointcloud_io.PointCloudError:
            broken += 1
    if loaded:
        images = render.render_batch([c.points for _, c in loaded], [c.colors for _, c in loaded],
                                     views=RENDER_VIEWS, size=RENDER_SIZE, device=device)
        for (item_id, cloud), views in zip(loaded, images):
            final = confined(media_root, f"renders/{item_id}")
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{item_id}-"))
            os.chmod(temp, 0o755)
            render.save_views(views, temp, "webp")  # view_NN.webp and sheet.webp
            np.save(temp / "points.npy", viewer_points(cloud.points, item_id))
            shutil.rmtree(final, ignore_errors=True)
            os.replace(temp, final)
    return {"made": len(loaded), "broken": broken}


def viewer_points(points: np.ndarray, seed: int) -> np.ndarray:
    """xyz float32 for the browser's 3D view: .npy is all it parses, whatever the source
    format (PLY, PCD, meshes), and at most VIEWER_POINTS keeps the download small."""
    points = np.asarray(points, dtype=np.float32)[:, :3]
    if len(points) > VIEWER_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(len(points), VIEWER_POINTS, replace=False))
        points = points[rows]
    return np.ascontiguousarray(points)


def video_poster_and_preview(source: Path, poster: Path, preview: Path) -> None:
    """Poster: a frame one second in (or the first). Preview: the first seconds, small, silent."""
    import av

    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        frame_image = None
        for frame in container.decode(stream):
            frame_image = frame.to_image()
            if frame.time is not None and frame.time >= 1.0:
                break
        if frame_image is None:
            raise ValueError(f"{source}: no video frames")
    frame_image.thumbnail((POSTER_WIDTH, POSTER_WIDTH * 4))
    temp = _atomic_target(poster)
    frame_image.convert("RGB").save(temp, "JPEG", quality=85)
    os.replace(temp, poster)
    _write_preview(source, preview)


def _write_preview(source: Path, preview: Path) -> None:
    import av

    temp = _atomic_target(preview)
    with av.open(str(source)) as inp, av.open(str(temp), "w", format="mp4") as out:
        in_stream = inp.streams.video[0]
        rate = in_stream.average_rate or 25
        width = min(PREVIEW_WIDTH, in_stream.codec_context.width) // 2 * 2
        height = int(in_stream.codec_context.height * width / in_stream.codec_context.width) // 2 * 2
        out_stream = out.add_stream("libx264", rate=rate)
        out_stream.width, out_stream.height, out_stream.pix_fmt = width, height, "yuv420p"
        out_stream.options = {"preset": "veryfast", "crf": "28", "movflags": "+faststart"}
        for frame in inp.decode(in_stream):
            if frame.time is not None and frame.time > PREVIEW_SECONDS:
                break
            resized = frame.reformat(width=width, height=height, format="yuv420p")
            resized.pts = None
            for packet in out_stream.encode(resized):
                out.mux(packet)
        for packet in out_stream.encode():
            out.mux(packet)
    os.replace(temp, preview)


def audio_waveform(source: Path, target: Path) -> None:
    """Min/max envelope per pixel column of the mixed-down signal, as a PNG."""
    import av

    chunks = []
    with av.open(str(source)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            samples = frame.to_ndarray().astype(np.float32)
            if samples.ndim == 2 and not frame.format.is_planar:
                samples = samples.reshape(-1, frame.layout.nb_channels).T
            chunks.append(samples.reshape(-1, samples.shape[-1]).mean(axis=0) if samples.ndim == 2 else samples)
    if not chunks:
        raise ValueError(f"{source}: no audio samples")
    signal = np.concatenate(chunks)
    peak = np.abs(signal).max() or 1.0
    width, height = WAVEFORM_SIZE
    columns = np.array_split(signal / peak, width)
    image = Image.new("RGB", WAVEFORM_SIZE, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    middle = height / 2
    for x, column in enumerate(columns):
        if len(column):
            draw.line([(x, middle - column.max() * middle * 0.95), (x, middle - column.min() * middle * 0.95)],
                      fill=(32, 90, 160))
    temp = _atomic_target(target)
    image.save(temp, "PNG")
    os.replace(temp, target)
