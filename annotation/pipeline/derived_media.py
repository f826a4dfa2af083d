"""Files annotators see instead of raw media: point-cloud renders, video posters and
previews, audio waveforms. Originals stay where they are (in storage, or in place in a
bucket); derived files go to storage under renders/, posters/, previews/, waveforms/ (see
derived_paths), written through storage.writing / writing_folder, so a killed worker never
leaves a half file that a retry would skip and every web process finds them.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw

from .. import storage

RENDER_VIEWS = 8
RENDER_SIZE = 512
POSTER_WIDTH = 640
PREVIEW_WIDTH = 320
PREVIEW_SECONDS = 4.0
WAVEFORM_SIZE = (800, 160)
VIEWER_POINTS = 50_000  # the browser's 3D view gets this many points (0.6 MB) in any input format


def derived_paths(modality: str, item_id: int) -> dict[str, str]:
    """Where an item's derived files live: storage names (relative to MEDIA_ROOT locally)."""
    if modality == "point_cloud":
        views = {f"view_{v:02d}": f"renders/{item_id}/view_{v:02d}.webp" for v in range(RENDER_VIEWS)}
        return {**views, "sheet": f"renders/{item_id}/sheet.webp", "points": f"renders/{item_id}/points.npy"}
    if modality == "video":
        return {"poster": f"posters/{item_id}.jpg", "preview": f"previews/{item_id}.mp4"}
    if modality == "audio":
        return {"waveform": f"waveforms/{item_id}.png"}
    return {}


def present_paths(modality: str, item_id: int) -> dict[str, str]:
    """The item's derived files that exist in storage, in as few store calls as the layout
    allows: one listing of renders/<id>/ for a point cloud (not a lookup per view), one
    lookup per file for a poster and preview or a waveform."""
    paths = derived_paths(modality, item_id)
    if modality == "point_cloud":
        listed = set(storage.list_folder(f"renders/{item_id}"))
        return {name: relative for name, relative in paths.items() if relative in listed}
    return {name: relative for name, relative in paths.items() if storage.exists(relative)}


def already_made(modality: str, item_id: int) -> bool:
    """Whether the media stage has nothing left to make for the item (point clouds: the
    contact sheet, written with the views; others: every file)."""
    present = present_paths(modality, item_id)
    if modality == "point_cloud":
        return "sheet" in present
    return len(present) == len(derived_paths(modality, item_id))


def render_point_clouds(sources: list[tuple[int, Path]], device=None) -> dict:
    """Render several clouds (local files) in one batch (one GPU launch), each item's views,
    sheet and viewer points published as one folder. Unreadable files are counted and
    skipped, not allowed to fail the batch; the caller skips items already rendered."""
    from sampling import pointcloud_io, render

    loaded, broken = [], 0
    for item_id, path in sources:
        try:
            loaded.append((item_id, pointcloud_io.load_point_cloud(path, n_points=100_000, seed=item_id)))
        except pointcloud_io.PointCloudError:
            broken += 1
    if loaded:
        images = render.render_batch(
            [c.points for _, c in loaded],
            [c.colors for _, c in loaded],
            views=RENDER_VIEWS,
            size=RENDER_SIZE,
            device=device,
        )
        for (item_id, cloud), views in zip(loaded, images):
            with storage.writing_folder(f"renders/{item_id}") as folder:
                os.chmod(folder, 0o755)  # the web server may read the media root as another user
                render.save_views(views, folder, "webp")  # view_NN.webp and sheet.webp
                np.save(folder / "points.npy", viewer_points(cloud.points, item_id))
    return {"made": len(loaded), "broken": broken}


def viewer_points(points: np.ndarray, seed: int) -> np.ndarray:
    """xyz float32 for the browser's 3D view: .npy is all it parses, whatever the source
    format (PLY, PCD, meshes), and at most VIEWER_POINTS keeps the download small."""
    points = np.asarray(points, dtype=np.float32)[:, :3]
    if len(points) > VIEWER_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(len(points), VIEWER_POINTS, replace=False))
        points = points[rows]
    return np.ascontiguousarray(points)


def video_poster_and_preview(source: Path, poster: str, preview: str) -> None:
    """Poster: a frame one second in (or the first). Preview: the first seconds, small, silent.
    `source` is a local file; `poster` and `preview` are storage names."""
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
    with _published(poster) as temp:
        frame_image.convert("RGB").save(temp, "JPEG", quality=85)
    with _published(preview) as temp:
        _write_preview(source, temp)


@contextmanager
def _published(name: str) -> Iterator[Path]:
    """storage.writing(name), its temp file made readable by a web server that runs as another
    user (mkstemp creates it 0600)."""
    with storage.writing(name) as temp:
        os.chmod(temp, 0o644)
        yield temp


def _write_preview(source: Path, temp: Path) -> None:
    import av

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


def audio_waveform(source: Path, target: str) -> None:
    """Min/max envelope per pixel column of the mixed-down signal, as a PNG (`target`: a
    storage name)."""
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
            draw.line(
                [(x, middle - column.max() * middle * 0.95), (x, middle - column.min() * middle * 0.95)],
                fill=(32, 90, 160),
            )
    with _published(target) as temp:
        image.save(temp, "PNG")
