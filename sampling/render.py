"""Render point clouds to a few still images so annotators can judge them in a browser.

Orthographic views around the object (azimuths evenly spaced, small elevation), a
z-buffer splat and depth shading (nearer = brighter). The z-buffer is one
``scatter_reduce('amin')`` on a packed int64 key, ``depth << 32 | point index``, so the
nearest point wins each pixel and ties go to the lower index: exact, order-independent,
hence deterministic on CPU and GPU. All views of many clouds are drawn in one pass.

Points are expected inside the unit sphere (`pointcloud_io.normalize_points`); the
sphere fills `fill` of the image width.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from sampling.device import resolve_device

DEFAULT_VIEWS = 8
DEFAULT_SIZE = 512
DEFAULT_ELEVATION = 20.0  # degrees above the horizon: shows the top a little
DEFAULT_FILL = 0.9
DEFAULT_BACKGROUND = (255, 255, 255)
DEFAULT_POINT_COLOR = (0.22, 0.42, 0.78)  # for clouds without colours
MIN_SHADE = 0.35  # brightness of the farthest point; the nearest gets 1.0
FORMATS = ("webp", "png")

_EMPTY = torch.iinfo(torch.int64).max
_DEPTH_STEPS = 1 << 30  # depth quantisation; key = depth << 32 | index stays < 2**63
_INDEX_MASK = 0xFFFFFFFF
_SHADE_LEVELS = 256
_LEVEL_SHIFT = 32 + 30 - 8  # key >> this = depth in 256 steps


def view_rotations(views: int = DEFAULT_VIEWS, elevation: float = DEFAULT_ELEVATION, up: str = "y") -> torch.Tensor:
    """[views, 3, 3] world->camera rotations; camera rows are (right, up, forward)."""
    if views < 1:
        raise ValueError(f"views must be >= 1, got {views}")
    if up not in ("y", "z"):
        raise ValueError(f"up must be 'y' or 'z', got {up!r}")
    el = math.radians(elevation)
    mats = []
    for k in range(views):
        az = 2 * math.pi * k / views
        # Camera sits at `eye` on the unit sphere (y-up frame) and looks at the origin.
        eye = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
        forward = -eye
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        cam_up = np.cross(right, forward)
        mats.append(np.stack([right, cam_up, forward]))
    rot = np.stack(mats)
    if up == "z":  # world z is up: map (x, y, z) -> (x, z, -y) before the y-up cameras
        rot = rot @ np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
    return torch.from_numpy(rot).float()


def _splat_offsets(radius: int) -> list[tuple[int, int]]:
    if radius < 0:
        raise ValueError(f"point_radius must be >= 0, got {radius}")
    return [
        (dy, dx)
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
        if dy * dy + dx * dx <= radius * radius
    ]


def _as_float_tensor(values) -> torch.Tensor:
    if torch.is_tensor(values):
        return values.float()
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def _as_color(value, name: str) -> tuple[float, float, float]:
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise ValueError(f"{name} needs 3 components, got {value!r}")
    return values


def _zbuffer(points, cloud_ids, n_clouds, rot, size, radius, fill) -> torch.Tensor:
    """Nearest-point keys (depth << 32 | point index) per pixel, flat over
    [clouds, views, size, size]; `_EMPTY` where no point lands.

    Points are scattered once into a buffer padded by `radius`; the splat is then a
    min-filter over the disc of offsets, which equals scattering every point to every
    offset but costs per pixel instead of per point x offset.
    """
    device = points.device
    n_views, m = rot.shape[0], points.shape[0]
    padded = size + 2 * radius
    cam = torch.einsum("vij,mj->vmi", rot, points)  # [V, M, 3]
    half = size / 2
    col = torch.floor(half + cam[..., 0] * (half * fill)).long() + radius
    row = torch.floor(half - cam[..., 1] * (half * fill)).long() + radius
    depth = ((cam[..., 2].clamp(-1, 1) + 1) * (_DEPTH_STEPS / 2)).long()
    key = ((depth << 32) | torch.arange(m, device=device)[None]).reshape(-1)
    image_index = cloud_ids[None] * n_views + torch.arange(n_views, device=device)[:, None]
    n_pixels = n_clouds * n_views * padded * padded
    inside = (row >= 0) & (row < padded) & (col >= 0) & (col < padded)
    target = torch.where(inside, image_index * (padded * padded) + row * padded + col, n_pixels)
    zbuf = torch.full((n_pixels + 1,), _EMPTY, dtype=torch.int64, device=device)  # last = off-image
    zbuf.scatter_reduce_(0, target.reshape(-1), key, reduce="amin")
    zbuf = zbuf[:n_pixels].view(n_clouds * n_views, padded, padded)

    def window(dy: int, dx: int) -> torch.Tensor:  # the pixels whose point lies at offset (dy, dx)
        return zbuf[:, radius - dy : radius - dy + size, radius - dx : radius - dx + size]

    out = window(0, 0).clone()
    for dy, dx in _splat_offsets(radius):
        if dy or dx:
            torch.minimum(out, window(dy, dx), out=out)
    return out.reshape(-1)


def _shade(zbuf, colors, background, point_color) -> torch.Tensor:
    """Keys -> uint8 RGB [P, 3]: colour x brightness falling from 1 (nearest) to MIN_SHADE
    (farthest), in 256 steps so uncoloured clouds are a table look-up."""
    device = zbuf.device
    hit = zbuf != _EMPTY
    level = torch.where(hit, (zbuf >> _LEVEL_SHIFT).clamp_(max=_SHADE_LEVELS - 1), _SHADE_LEVELS)
    shade = 1.0 - (1.0 - MIN_SHADE) * (torch.arange(_SHADE_LEVELS, device=device) + 0.5) / _SHADE_LEVELS
    palette = torch.cat(
        [
            shade[:, None] * torch.tensor(point_color, device=device) * 255.0,
            torch.tensor([background], dtype=torch.float32, device=device),
        ]
    )
    image = palette.round_().clamp_(0, 255).to(torch.uint8).index_select(0, level)
    if colors is not None:
        pixels = hit.nonzero().squeeze(1)
        nearest = zbuf[pixels] & _INDEX_MASK
        rgb = colors.index_select(0, nearest) * (shade[level[pixels]] * 255.0)[:, None]
        image[pixels] = rgb.round_().clamp_(0, 255).to(torch.uint8)
    return image


def _render_chunk(points, colors, cloud_ids, n_clouds, rot, size, radius, fill, background, point_color):
    """Render clouds concatenated in `points` ([M,3], cloud of each point in `cloud_ids`)."""
    zbuf = _zbuffer(points, cloud_ids, n_clouds, rot, size, radius, fill)
    image = _shade(zbuf, colors, background, point_color)
    return image.view(n_clouds, rot.shape[0], size, size, 3)


def _chunks(sizes: list[int], n_views: int, size: int, device: torch.device):
    """Group clouds so one pass stays within memory (more on GPU, cache-sized on CPU)."""
    budget = (1 << 28) if device.type == "cuda" else (1 << 24)
    start, points, pixels = 0, 0, 0
    for i, n in enumerate(sizes):
        add_points, add_pixels = n * n_views * 3, n_views * size * size * 4
        if i > start and (points + add_points > budget or pixels + add_pixels > budget):
            yield start, i
            start, points, pixels = i, 0, 0
        points += add_points
        pixels += add_pixels
    if start < len(sizes):
        yield start, len(sizes)


def render_batch(
    clouds: Sequence[np.ndarray | torch.Tensor],
    colors: Sequence[np.ndarray | torch.Tensor | None] | None = None,
    views: int = DEFAULT_VIEWS,
    size: int = DEFAULT_SIZE,
    *,
    elevation: float = DEFAULT_ELEVATION,
    up: str = "y",
    point_radius: int = 1,
    fill: float = DEFAULT_FILL,
    background: Sequence[int] = DEFAULT_BACKGROUND,
    point_color: Sequence[float] = DEFAULT_POINT_COLOR,
    device: str | torch.device | None = None,
    to_cpu: bool = True,
) -> torch.Tensor:
    """Render many clouds -> uint8 [clouds, views, size, size, 3] (on CPU unless `to_cpu`
    is False). Clouds may differ in size; colours are [N,3] in 0..1 or None."""
    device = resolve_device(device)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if colors is not None and len(colors) != len(clouds):
        raise ValueError(f"{len(colors)} colour arrays for {len(clouds)} clouds")
    background = _as_color(background, "background")
    point_color = _as_color(point_color, "point_color")
    tensors = []
    for i, cloud in enumerate(clouds):
        pts = _as_float_tensor(cloud)
        if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] == 0:
            raise ValueError(f"cloud {i}: expected points [N>0, 3], got {tuple(pts.shape)}")
        tensors.append(pts)
    any_colors = colors is not None and any(c is not None for c in colors)
    rot = view_rotations(views, elevation, up).to(device)
    out = []
    for start, stop in _chunks([len(t) for t in tensors], views, size, device):
        pts = torch.cat([t.to(device) for t in tensors[start:stop]])
        counts = torch.tensor([len(t) for t in tensors[start:stop]], device=device)
        ids = torch.repeat_interleave(torch.arange(stop - start, device=device), counts)
        cols = None
        if any_colors:
            cols = torch.cat(
                [_cloud_colors(colors[k], len(tensors[k]), point_color, k) for k in range(start, stop)]
            ).to(device)
        images = _render_chunk(pts, cols, ids, stop - start, rot, size, point_radius, fill, background, point_color)
        out.append(images.cpu() if to_cpu else images)
    return torch.cat(out)


def _cloud_colors(colors, n: int, default: tuple[float, float, float], index: int) -> torch.Tensor:
    if colors is None:
        return torch.tensor(default, dtype=torch.float32).expand(n, 3)
    c = _as_float_tensor(colors)
    if c.shape != (n, 3):
        raise ValueError(f"cloud {index}: colours {tuple(c.shape)} do not match {n} points")
    return c.clamp(0, 1)


def render_views(
    points: np.ndarray | torch.Tensor,
    colors: np.ndarray | torch.Tensor | None = None,
    views: int = DEFAULT_VIEWS,
    size: int = DEFAULT_SIZE,
    device: str | torch.device | None = None,
    **options,
) -> torch.Tensor:
    """Render one cloud -> uint8 [views, size, size, 3] on CPU. Options as `render_batch`."""
    return render_batch([points], None if colors is None else [colors], views, size, device=device, **options)[0]


def contact_sheet(images, columns: int | None = None, gap: int = 4, background: Sequence[int] = DEFAULT_BACKGROUND):
    """Tile views [V,H,W,3] into one image, at most 4 per row (8 views -> 4 x 2)."""
    from PIL import Image

    arrays = [np.asarray(img) for img in (images.cpu() if torch.is_tensor(images) else images)]
    if not arrays:
        raise ValueError("no images for a contact sheet")
    h, w = arrays[0].shape[:2]
    if columns is None:
        rows = math.ceil(len(arrays) / 4)
        columns = math.ceil(len(arrays) / rows)
    rows = math.ceil(len(arrays) / columns)
    sheet = Image.new(
        "RGB", (columns * w + (columns - 1) * gap, rows * h + (rows - 1) * gap), tuple(int(v) for v in background)
    )
    for k, array in enumerate(arrays):
        r, c = divmod(k, columns)
        sheet.paste(Image.fromarray(array), (c * (w + gap), r * (h + gap)))
    return sheet


def save_image(image, path: Path, fmt: str, quality: int = 90) -> Path:
    """WebP (lossy, `quality`) or PNG; `image` is a PIL image or uint8 [H,W,3]."""
    from PIL import Image

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image.cpu() if torch.is_tensor(image) else image))
    if fmt == "webp":
        image.save(path, "WEBP", quality=quality, method=4)
    else:
        image.save(path, "PNG", optimize=False)
    return path


def save_views(images, out_dir: str | os.PathLike, fmt: str = "webp", quality: int = 90) -> list[Path]:
    """Write view_00.<fmt>, view_01... and sheet.<fmt>; returns the paths (sheet last)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [save_image(img, out_dir / f"view_{k:02d}.{fmt}", fmt, quality) for k, img in enumerate(images)]
    paths.append(save_image(contact_sheet(images), out_dir / f"sheet.{fmt}", fmt, quality))
    return paths


def render_file(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    views: int = DEFAULT_VIEWS,
    size: int = DEFAULT_SIZE,
    fmt: str = "webp",
    *,
    n_points: int = 100_000,
    seed: int = 0,
    device: str | torch.device | None = None,
    quality: int = 90,
    **options,
) -> list[Path]:
    """Read one point-cloud/mesh file and write its views and contact sheet to `out_dir`.

    Raises `pointcloud_io.PointCloudError` for unreadable or empty input.
    """
    from sampling.pointcloud_io import load_point_cloud

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    cloud = load_point_cloud(path, n_points=n_points, seed=seed)
    images = render_views(cloud.points, cloud.colors, views, size, device=device, **options)
    return save_views(images, out_dir, fmt, quality)
