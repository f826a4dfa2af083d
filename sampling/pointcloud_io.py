"""Read point clouds and meshes into one shape: float32 points [N,3], optional colours.

Formats: PLY (points or mesh), PCD (ascii / binary / binary_compressed, read here
because trimesh has no PCD reader), NPY / NPZ, and any mesh trimesh reads (OBJ, OFF,
STL, GLB...), sampled to a fixed number of surface points with a seed so the same file
always gives the same cloud. Anything unreadable or empty raises `PointCloudError`
naming the file, so a batch job can report it and move on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_POINTS = 100_000
MESH_SUFFIXES = (".ply", ".obj", ".off", ".stl", ".glb", ".gltf")
SUPPORTED_SUFFIXES = MESH_SUFFIXES + (".pcd", ".npy", ".npz")


class PointCloudError(ValueError):
    """A file cannot be turned into a point cloud (missing, corrupt, empty, unsupported)."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class PointCloud:
    points: np.ndarray  # float32 [N, 3]
    colors: np.ndarray | None = None  # float32 [N, 3] in 0..1, or None


def load_point_cloud(
    path: str | os.PathLike,
    n_points: int | None = DEFAULT_POINTS,
    seed: int = 0,
    normalize: bool = True,
) -> PointCloud:
    """Read `path`; meshes are sampled to `n_points` surface points, clouds larger than
    `n_points` are subsampled to it (None keeps every point of a cloud). Non-finite
    points are dropped; `normalize` centres the cloud and scales it into the unit sphere.
    """
    path = Path(path)
    if not path.is_file():
        raise PointCloudError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise PointCloudError(path, f"unsupported format {suffix!r}; use one of {SUPPORTED_SUFFIXES}")
    mesh_points = n_points if n_points is not None else DEFAULT_POINTS
    try:
        if suffix == ".pcd":
            cloud = read_pcd(path)
        elif suffix in (".npy", ".npz"):
            cloud = read_numpy(path)
        else:
            cloud = read_with_trimesh(path, mesh_points, seed)
    except PointCloudError:
        raise
    except Exception as exc:  # parsers fail in many ways on corrupt input
        raise PointCloudError(path, f"cannot parse {suffix} file ({type(exc).__name__}: {exc})") from exc
    cloud = _clean(path, cloud)
    if n_points is not None and len(cloud.points) > n_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(cloud.points), n_points, replace=False))
        cloud = PointCloud(cloud.points[keep], None if cloud.colors is None else cloud.colors[keep])
    if normalize:
        cloud = PointCloud(normalize_points(cloud.points), cloud.colors)
    return cloud


def normalize_points(points: np.ndarray) -> np.ndarray:
    """Centre on the bounding-box centre (robust to uneven sampling density) and scale
    so the farthest point lies on the unit sphere."""
    points = np.asarray(points, dtype=np.float64)
    center = (points.min(axis=0) + points.max(axis=0)) / 2
    centred = points - center
    radius = float(np.sqrt((centred**2).sum(axis=1).max()))
    if radius > 0:
        centred /= radius
    return centred.astype(np.float32)


def _clean(path: Path, cloud: PointCloud) -> PointCloud:
    points = np.asarray(cloud.points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise PointCloudError(path, f"expected points of shape [N, 3], got {points.shape}")
    finite = np.isfinite(points).all(axis=1)
    if not finite.any():
        raise PointCloudError(path, "no points" if len(points) == 0 else "no finite points")
    colors = cloud.colors
    if colors is not None:
        colors = np.clip(np.asarray(colors, dtype=np.float32)[finite], 0.0, 1.0)
    return PointCloud(np.ascontiguousarray(points[finite], dtype=np.float32), colors)


def _colors_to_unit(colors: np.ndarray) -> np.ndarray:
    """RGB(A) as uint8 0..255 or float 0..1 -> float32 RGB 0..1."""
    colors = np.asarray(colors)[:, :3]
    if colors.dtype.kind in "ui" or (colors.size and np.nanmax(colors) > 1.0):
        return colors.astype(np.float32) / 255.0
    return colors.astype(np.float32)


# --- trimesh: PLY and meshes -------------------------------------------------------


def read_with_trimesh(path: Path, n_points: int, seed: int) -> PointCloud:
    import trimesh

    geometry = trimesh.load(path, force=None)
    if isinstance(geometry, trimesh.Scene):
        if not geometry.geometry:
            raise PointCloudError(path, "no geometry in file")
        geometry = geometry.to_geometry()
    if isinstance(geometry, trimesh.PointCloud):
        colors = np.asarray(geometry.colors)
        has_colors = len(colors) == len(geometry.vertices) and len(colors) > 0
        return PointCloud(np.asarray(geometry.vertices), _colors_to_unit(colors) if has_colors else None)
    if not isinstance(geometry, trimesh.Trimesh):
        raise PointCloudError(path, f"unsupported geometry {type(geometry).__name__}")
    if len(geometry.faces) == 0 or geometry.area <= 0:
        # Vertices without usable faces: treat as a point cloud.
        return PointCloud(np.asarray(geometry.vertices), None)
    return _sample_mesh(geometry, n_points, seed)


def _sample_mesh(mesh, n_points: int, seed: int) -> PointCloud:
    import trimesh

    if mesh.visual.kind in ("vertex", "face", "texture"):
        try:
            points, _, colors = trimesh.sample.sample_surface(mesh, n_points, sample_color=True, seed=seed)
            colors = np.asarray(colors)
            # UVs without a texture image come back as trimesh's flat placeholder grey.
            placeholder = mesh.visual.kind == "texture" and np.ptp(colors[:, :3]) == 0
            return PointCloud(np.asarray(points), None if placeholder else _colors_to_unit(colors))
        except Exception:
            pass  # textures that cannot be sampled (missing image): render uncoloured
    points, _ = trimesh.sample.sample_surface(mesh, n_points, seed=seed)
    return PointCloud(np.asarray(points), None)


# --- NumPy -------------------------------------------------------------------------

_NPZ_POINT_KEYS = ("points", "xyz", "pos", "positions", "vertices")
_NPZ_COLOR_KEYS = ("colors", "colours", "rgb", "color")


def read_numpy(path: Path) -> PointCloud:
    """NPY: [N,3] points or [N,6] points+RGB. NPZ: a points key (points/xyz/pos...) and
    an optional colours key, or a single array read as NPY."""
    if path.suffix.lower() == ".npy":
        return _split_columns(path, np.load(path, allow_pickle=False))
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        point_key = next((k for k in _NPZ_POINT_KEYS if k in archive), None)
        if point_key is None:
            if len(keys) != 1:
                raise PointCloudError(path, f"no points array among {keys}; name it one of {_NPZ_POINT_KEYS}")
            return _split_columns(path, archive[keys[0]])
        cloud = _split_columns(path, archive[point_key])
        color_key = next((k for k in _NPZ_COLOR_KEYS if k in archive), None)
        if color_key is not None:
            colors = archive[color_key]
            if colors.shape[:1] != cloud.points.shape[:1] or colors.ndim != 2 or colors.shape[1] < 3:
                raise PointCloudError(path, f"colours shape {colors.shape} does not match points")
            cloud = PointCloud(cloud.points, _colors_to_unit(colors))
        return cloud


def _split_columns(path: Path, array: np.ndarray) -> PointCloud:
    if array.dtype.kind not in "fiu" or array.ndim != 2 or array.shape[1] not in (3, 6):
        raise PointCloudError(path, f"expected a numeric [N,3] or [N,6] array, got {array.dtype} {array.shape}")
    if array.shape[1] == 6:
        return PointCloud(array[:, :3], _colors_to_unit(array[:, 3:]))
    return PointCloud(array, None)


# --- PCD (Point Cloud Library) -------------------------------------------------------

_PCD_TYPES = {
    ("F", 4): "f4",
    ("F", 8): "f8",
    ("I", 1): "i1",
    ("I", 2): "i2",
    ("I", 4): "i4",
    ("I", 8): "i8",
    ("U", 1): "u1",
    ("U", 2): "u2",
    ("U", 4): "u4",
    ("U", 8): "u8",
}


def read_pcd(path: Path) -> PointCloud:
    """PCD v0.7 with DATA ascii, binary or binary_compressed; colour from a packed
    `rgb`/`rgba` field (float or uint32 bit pattern) or separate r, g, b fields."""
    raw = path.read_bytes()
    header, body = _pcd_header(path, raw)
    fields, counts = header["FIELDS"], [int(c) for c in header["COUNT"]]
    types = [_PCD_TYPES.get((t, int(s))) for t, s in zip(header["TYPE"], header["SIZE"])]
    if None in types or not (len(fields) == len(counts) == len(types)):
        raise PointCloudError(path, "inconsistent FIELDS/SIZE/TYPE/COUNT in PCD header")
    n = int(header["POINTS"][0]) if "POINTS" in header else int(header["WIDTH"][0]) * int(header["HEIGHT"][0])
    dtype = np.dtype([(f"{name}_{i}", "<" + t, (c,)) for i, (name, t, c) in enumerate(zip(fields, types, counts))])
    mode = header["DATA"][0].lower()
    if mode == "ascii":
        lines = [line for line in body.decode("ascii").splitlines() if line.strip()]
        table = np.loadtxt(lines, dtype=np.float64, ndmin=2) if lines else np.zeros((0, sum(counts)))
        if table.shape != (n, sum(counts)):
            raise PointCloudError(path, f"expected {n} rows of {sum(counts)} values, got {table.shape}")
        columns, start = {}, 0
        for name, t, c in zip(fields, types, counts):
            columns[name] = table[:, start : start + c].astype(t)
            start += c
    elif mode == "binary":
        if len(body) < n * dtype.itemsize:
            raise PointCloudError(path, f"binary data truncated: {len(body)} bytes for {n} points")
        records = np.frombuffer(body, dtype=dtype, count=n)
        columns = {name: records[f"{name}_{i}"] for i, name in enumerate(fields)}
    elif mode == "binary_compressed":
        columns = _pcd_compressed_columns(path, body, fields, types, counts, n)
    else:
        raise PointCloudError(path, f"unknown PCD DATA mode {mode!r}")
    missing = [axis for axis in "xyz" if axis not in columns]
    if missing:
        raise PointCloudError(path, f"PCD has no {','.join(missing)} field")
    points = np.stack([columns[a][:, 0] for a in "xyz"], axis=1).astype(np.float32)
    return PointCloud(points, _pcd_colors(columns))


def _pcd_header(path: Path, raw: bytes) -> tuple[dict[str, list[str]], bytes]:
    header: dict[str, list[str]] = {}
    offset = 0
    while offset < len(raw):
        end = raw.find(b"\n", offset)
        end = len(raw) if end < 0 else end
        line = raw[offset:end].decode("ascii", errors="replace").strip()
        offset = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        header[key.upper()] = values
        if key.upper() == "DATA":
            break
    required = ("FIELDS", "SIZE", "TYPE", "DATA")
    if not all(header.get(key) for key in required):
        raise PointCloudError(path, "not a PCD file (header lacks FIELDS/SIZE/TYPE/DATA)")
    header.setdefault("COUNT", ["1"] * len(header["FIELDS"]))
    if "POINTS" not in header and not ("WIDTH" in header and "HEIGHT" in header):
        raise PointCloudError(path, "PCD header lacks POINTS")
    return header, raw[offset:]


def _pcd_compressed_columns(path, body, fields, types, counts, n):
    if len(body) < 8:
        raise PointCloudError(path, "compressed PCD data truncated")
    compressed_size, size = np.frombuffer(body[:8], dtype="<u4")
    data = lzf_decompress(body[8 : 8 + int(compressed_size)], int(size))
    columns, start = {}, 0
    for name, t, c in zip(fields, types, counts):  # stored field by field (column-major)
        nbytes = n * c * np.dtype(t).itemsize
        if start + nbytes > len(data):
            raise PointCloudError(path, "compressed PCD data shorter than its header says")
        columns[name] = np.frombuffer(data[start : start + nbytes], dtype="<" + t).reshape(n, c)
        start += nbytes
    return columns


def _pcd_colors(columns: dict[str, np.ndarray]) -> np.ndarray | None:
    packed = columns.get("rgb", columns.get("rgba"))
    if packed is not None:
        bits = packed[:, 0]
        bits = bits.astype("<f4").view("<u4") if bits.dtype.kind == "f" else bits.astype("<u4")
        rgb = np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=1)
        return rgb.astype(np.float32) / 255.0
    if all(c in columns for c in "rgb"):
        return _colors_to_unit(np.concatenate([columns[c][:, :1] for c in "rgb"], axis=1))
    return None


def lzf_decompress(data: bytes, expected_size: int) -> bytes:
    """LibLZF decompression (used by PCD binary_compressed); pure Python, ~1 s per 10 MB."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # literal run of ctrl + 1 bytes
            run = ctrl + 1
            if i + run > n:
                raise ValueError("LZF literal run past end of input")
            out += data[i : i + run]
            i += run
            continue
        length = ctrl >> 5
        if length == 7:
            if i >= n:
                raise ValueError("LZF back-reference truncated")
            length += data[i]
            i += 1
        if i >= n:
            raise ValueError("LZF back-reference truncated")
        ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        if ref < 0:
            raise ValueError("LZF back-reference before start of output")
        count = length + 2
        if ref + count <= len(out):
            out += out[ref : ref + count]
        else:  # the copy overlaps its own output (a repeating pattern): byte by byte
            for k in range(count):
                out.append(out[ref + k])
    if len(out) != expected_size:
        raise ValueError(f"LZF output is {len(out)} bytes, header says {expected_size}")
    return bytes(out)


def iter_supported_files(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand directories (recursively, sorted) into the files this module can read."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES)
        else:
            found.append(p)
    return found
