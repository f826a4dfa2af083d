"""Point-cloud readers: fixtures written here in every format, plus assimp's test models if installed."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh

from sampling.pointcloud_io import (
    PointCloudError,
    iter_supported_files,
    load_point_cloud,
    lzf_decompress,
    normalize_points,
)

ASSIMP_MODELS = Path("/usr/share/assimp/models")
RNG = np.random.default_rng(7)
POINTS = (RNG.normal(size=(500, 3)) * [3.0, 1.0, 0.5] + [10.0, -4.0, 2.0]).astype(np.float32)
COLORS_U8 = RNG.integers(0, 256, size=(500, 3), dtype=np.uint8)


def assert_normalized(points):
    center = (points.min(axis=0) + points.max(axis=0)) / 2
    np.testing.assert_allclose(center, 0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1).max(), 1.0, atol=1e-5)


def test_normalize_centres_and_scales_into_unit_sphere():
    out = normalize_points(POINTS)
    assert out.dtype == np.float32
    assert_normalized(out)
    # Shape is preserved: normalisation is a translation and a uniform scale.
    scale = np.ptp(out, axis=0) / np.ptp(POINTS, axis=0)
    np.testing.assert_allclose(scale, scale[0], rtol=1e-5)


def test_ply_point_cloud_with_colours(tmp_path):
    path = tmp_path / "cloud.ply"
    rgba = np.concatenate([COLORS_U8, np.full((500, 1), 255, np.uint8)], axis=1)
    trimesh.PointCloud(POINTS, colors=rgba).export(path)
    cloud = load_point_cloud(path, normalize=False)
    np.testing.assert_allclose(cloud.points, POINTS, rtol=1e-6)
    np.testing.assert_allclose(cloud.colors, COLORS_U8 / 255.0, atol=1e-6)
    assert_normalized(load_point_cloud(path).points)


@pytest.mark.parametrize("suffix", ["off", "stl", "obj", "ply"])
def test_meshes_are_sampled_on_their_surface_with_a_seed(tmp_path, suffix):
    path = tmp_path / f"box.{suffix}"
    trimesh.creation.box(extents=(2.0, 2.0, 2.0)).export(path)
    cloud = load_point_cloud(path, n_points=2000, seed=3)
    assert cloud.points.shape == (2000, 3) and cloud.points.dtype == np.float32
    # On a cube's surface every point's largest |coordinate| is the half-extent: about 1/sqrt(3)
    # once normalised (exactly, if a sample hit a corner).
    half_extent = np.abs(cloud.points).max(axis=1)
    np.testing.assert_allclose(half_extent, half_extent[0], atol=1e-5)
    assert half_extent[0] == pytest.approx(1 / np.sqrt(3), rel=0.02)
    np.testing.assert_array_equal(cloud.points, load_point_cloud(path, n_points=2000, seed=3).points)
    assert not np.array_equal(cloud.points, load_point_cloud(path, n_points=2000, seed=4).points)


def test_large_clouds_are_subsampled_deterministically(tmp_path):
    path = tmp_path / "cloud.npy"
    np.save(path, POINTS)
    a = load_point_cloud(path, n_points=100, normalize=False)
    assert a.points.shape == (100, 3)
    assert {tuple(p) for p in a.points} <= {tuple(p) for p in POINTS}
    np.testing.assert_array_equal(a.points, load_point_cloud(path, n_points=100, normalize=False).points)
    assert load_point_cloud(path, n_points=None).points.shape == (500, 3)


def test_numpy_formats(tmp_path):
    np.save(tmp_path / "xyzrgb.npy", np.concatenate([POINTS, COLORS_U8.astype(np.float32)], axis=1))
    cloud = load_point_cloud(tmp_path / "xyzrgb.npy", normalize=False)
    np.testing.assert_allclose(cloud.points, POINTS)
    np.testing.assert_allclose(cloud.colors, COLORS_U8 / 255.0, atol=1e-6)
    np.savez(tmp_path / "named.npz", xyz=POINTS, rgb=COLORS_U8)
    cloud = load_point_cloud(tmp_path / "named.npz", normalize=False)
    np.testing.assert_allclose(cloud.points, POINTS)
    np.testing.assert_allclose(cloud.colors, COLORS_U8 / 255.0, atol=1e-6)
    np.savez(tmp_path / "single.npz", POINTS)
    assert load_point_cloud(tmp_path / "single.npz").colors is None


def _pcd_header(fields, sizes, types, n, data):
    return (
        f"# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS {' '.join(fields)}\n"
        f"SIZE {' '.join(map(str, sizes))}\nTYPE {' '.join(types)}\nCOUNT {' '.join('1' * len(fields))}\n"
        f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {data}\n"
    ).encode()


def _packed_rgb():
    bits = (COLORS_U8[:, 0].astype(np.uint32) << 16) | (COLORS_U8[:, 1].astype(np.uint32) << 8) | COLORS_U8[:, 2]
    return bits.view(np.float32)


def _lzf_literals(data: bytes) -> bytes:
    """Valid LZF made of literal runs only (max 32 bytes each)."""
    out = bytearray()
    for i in range(0, len(data), 32):
        chunk = data[i : i + 32]
        out += bytes([len(chunk) - 1]) + chunk
    return bytes(out)


@pytest.mark.parametrize("mode", ["ascii", "binary", "binary_compressed"])
def test_pcd_with_packed_rgb(tmp_path, mode):
    rgb = _packed_rgb()
    header = _pcd_header(["x", "y", "z", "rgb"], [4, 4, 4, 4], ["F", "F", "F", "F"], len(POINTS), mode)
    if mode == "ascii":
        rows = [f"{x!r} {y!r} {z!r} {c!r}" for (x, y, z), c in zip(POINTS.tolist(), rgb.tolist())]
        body = ("\n".join(rows) + "\n").encode()
    elif mode == "binary":
        table = np.zeros(len(POINTS), dtype=[("xyz", "<f4", 3), ("rgb", "<f4")])
        table["xyz"], table["rgb"] = POINTS, rgb
        body = table.tobytes()
    else:  # column-major fields, LZF-compressed, preceded by both sizes
        raw = b"".join(np.ascontiguousarray(a, "<f4").tobytes() for a in (*POINTS.T, rgb))
        packed = _lzf_literals(raw)
        body = struct.pack("<II", len(packed), len(raw)) + packed
    path = tmp_path / f"cloud_{mode}.pcd"
    path.write_bytes(header + body)
    cloud = load_point_cloud(path, normalize=False)
    np.testing.assert_allclose(cloud.points, POINTS, rtol=1e-6)
    np.testing.assert_allclose(cloud.colors, COLORS_U8 / 255.0, atol=1e-6)


def test_lzf_back_references_including_overlapping_ones():
    # literal "ab", then copy 6 bytes from 2 back (overlapping), then copy 3 from 8 back.
    data = bytes([1]) + b"ab" + bytes([(4 << 5), 1]) + bytes([(1 << 5), 7])
    assert lzf_decompress(data, 11) == b"abababababa"
    with pytest.raises(ValueError):
        lzf_decompress(data, 12)
    with pytest.raises(ValueError):
        lzf_decompress(bytes([(1 << 5), 40]), 3)  # reference before start


def test_non_finite_points_are_dropped(tmp_path):
    points = POINTS.copy()
    points[:10] = np.nan
    points[10, 1] = np.inf
    np.save(tmp_path / "nan.npy", points)
    assert load_point_cloud(tmp_path / "nan.npy").points.shape == (489, 3)


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.ply", b"", "cannot parse"),
        ("garbage.ply", b"ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\nend_header\n1\n", "cannot parse"),
        # trimesh either fails to parse these bytes or returns an empty scene, depending on which
        # of its optional dependencies are installed: either way the error names the file.
        ("garbage.stl", bytes(range(256)) * 3, "cannot parse|no geometry"),
        ("garbage.pcd", b"hello world\n", "not a PCD"),
        ("short.pcd", _pcd_header(["x", "y", "z"], [4, 4, 4], ["F"] * 3, 100, "binary") + b"\0" * 12, "truncated"),
        ("empty.pcd", _pcd_header(["x", "y", "z"], [4, 4, 4], ["F"] * 3, 0, "ascii"), "no points"),
        ("cloud.xyzw", b"1 2 3", "unsupported format"),
    ],
)
def test_corrupt_or_empty_files_raise_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PointCloudError, match=reason) as info:
        load_point_cloud(path)
    assert str(path) in str(info.value)


def test_bad_arrays_and_missing_files_raise(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 3), np.float32))
    np.save(tmp_path / "flat.npy", np.zeros(12, np.float32))
    for name, reason in [("empty.npy", "no points"), ("flat.npy", r"\[N,3\]"), ("absent.ply", "not found")]:
        with pytest.raises(PointCloudError, match=reason):
            load_point_cloud(tmp_path / name)


def test_directories_expand_to_supported_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.ply", "a.npy", "sub/c.pcd", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in iter_supported_files([tmp_path])] == ["a.npy", "b.ply", "c.pcd"]


@pytest.mark.skipif(not ASSIMP_MODELS.is_dir(), reason="Debian package assimp-testmodels not installed")
def test_assimp_test_models():
    good = [
        "PLY/cube.ply",
        "PLY/points.ply",
        "PLY/float-color.ply",
        "OFF/Cube.off",
        "STL/Spider_binary.stl",
        "OBJ/spider.obj",
        "OBJ/cube_with_vertexcolors.obj",
        "OBJ/point_cloud.obj",
    ]
    for name in good:
        cloud = load_point_cloud(ASSIMP_MODELS / name, n_points=1000)
        assert cloud.points.shape[1] == 3 and len(cloud.points) > 0, name
        assert np.linalg.norm(cloud.points, axis=1).max() == pytest.approx(1.0, abs=1e-5), name
    assert load_point_cloud(ASSIMP_MODELS / "OBJ/cube_with_vertexcolors.obj", n_points=100).colors is not None
    # UV coordinates but no texture image: no colours rather than trimesh's flat placeholder grey.
    assert load_point_cloud(ASSIMP_MODELS / "PLY/Wuson.ply", n_points=100).colors is None
    for name in [
        "invalid/empty.off",
        "invalid/empty.ply",
        "invalid/empty.obj",
        "invalid/malformed.obj",
        "invalid/OutOfMemory.off",
        "PLY/pond.0.ply",
    ]:
        with pytest.raises(PointCloudError):
            load_point_cloud(ASSIMP_MODELS / name, n_points=100)
