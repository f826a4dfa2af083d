"""Z-buffer renderer: geometry of the picture, occlusion, shading, determinism, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sampling.pointcloud_io import PointCloudError
from sampling.render import contact_sheet, render_batch, render_file, render_views, view_rotations

WHITE = np.array([255, 255, 255], np.uint8)


def unit_sphere(n, seed=0):
    p = np.random.default_rng(seed).normal(size=(n, 3))
    return (p / np.linalg.norm(p, axis=1, keepdims=True)).astype(np.float32)


def foreground(image):
    return np.any(np.asarray(image) != WHITE, axis=-1)


def lopsided_cloud(seed=1):
    """An L shape: looks different from every side."""
    rng = np.random.default_rng(seed)
    arm = rng.uniform(0, 1, size=(3000, 3)) * [0.9, 0.15, 0.15]
    leg = rng.uniform(0, 1, size=(3000, 3)) * [0.15, 0.15, 0.6] + [0, 0, 0.1]
    return np.concatenate([arm, leg]).astype(np.float32) - 0.3


def test_rotations_are_orthonormal_and_evenly_spaced():
    rot = view_rotations(8, elevation=0.0)
    np.testing.assert_allclose(rot @ rot.transpose(1, 2), np.broadcast_to(np.eye(3), (8, 3, 3)), atol=1e-6)
    forward = rot[:, 2]
    angles = torch.rad2deg(torch.atan2(forward[:, 0], forward[:, 2])) % 360
    np.testing.assert_allclose(np.diff(np.sort(angles.numpy())), 45.0, atol=1e-4)


def test_sphere_renders_as_disc_of_expected_radius():
    size, fill = 96, 0.9
    images = render_views(unit_sphere(60_000), views=3, size=size, fill=fill, device="cpu")
    assert images.shape == (3, size, size, 3) and images.dtype == torch.uint8
    yy, xx = np.mgrid[:size, :size] + 0.5
    radius = np.hypot(xx - size / 2, yy - size / 2)
    expected = fill * size / 2
    for image in images.numpy():
        mask = foreground(image)
        # Tolerance: splat radius (1 px) + pixel centre to corner (0.71 px).
        assert expected + 1 <= radius[mask].max() <= expected + 1.75
        assert mask[radius < expected - 1.75].mean() > 0.99
        assert not mask[radius > expected + 1.75].any()


def test_front_point_occludes_point_behind_and_is_brighter():
    # Elevation 0, view 0 looks along -z: larger z is nearer. View 1 looks from behind.
    front, back = [0.0, 0.0, 0.5], [0.0, 0.0, -0.5]
    colors = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    for points, cols in [([front, back], colors), ([back, front], colors[::-1])]:
        img = render_views(
            np.array(points, np.float32), cols, views=2, size=32, elevation=0.0, point_radius=0, device="cpu"
        ).numpy()
        r0, g0, _ = img[0, 16, 16]
        r1, g1, _ = img[1, 16, 16]
        assert r0 > 0 and g0 == 0, "front (red) point hides the green one"
        assert g1 > 0 and r1 == 0, "seen from behind, the green point is in front"
    near = render_views(np.array([front], np.float32), views=1, size=32, elevation=0, point_radius=0).numpy()
    far = render_views(np.array([back], np.float32), views=1, size=32, elevation=0, point_radius=0).numpy()
    assert near[0, 16, 16].sum() > far[0, 16, 16].sum()


def test_point_radius_grows_the_splat():
    point = np.zeros((1, 3), np.float32)
    sizes = [foreground(render_views(point, views=1, size=33, point_radius=r)[0]).sum() for r in (0, 1, 2)]
    assert sizes == [1, 5, 13]


def test_views_differ_and_up_axis_is_honoured():
    images = render_views(lopsided_cloud(), views=4, size=64).numpy()
    masks = [foreground(img) for img in images]
    for i in range(4):
        for j in range(i + 1, 4):
            assert (masks[i] != masks[j]).mean() > 0.01
    pole = np.zeros((500, 3), np.float32)
    pole[:, 2] = np.linspace(-1, 1, 500)  # a vertical rod when z is up
    rows, cols = np.nonzero(foreground(render_views(pole, views=1, size=64, elevation=0, up="z")[0]))
    assert np.ptp(rows) > 50 and np.ptp(cols) <= 2


def test_rendering_is_deterministic_and_independent_of_batching_and_point_order():
    cloud = lopsided_cloud()
    first = render_views(cloud, views=8, size=64, device="cpu")
    assert torch.equal(first, render_views(cloud, views=8, size=64, device="cpu"))
    shuffled = cloud[np.random.default_rng(0).permutation(len(cloud))]
    assert torch.equal(first, render_views(shuffled, views=8, size=64, device="cpu"))
    sphere = unit_sphere(5000)
    batch = render_batch([cloud, sphere], [None, np.full((5000, 3), 0.5, np.float32)], views=8, size=64)
    assert batch.shape == (2, 8, 64, 64, 3)
    assert torch.equal(batch[0], first)
    assert torch.equal(batch[1], render_views(sphere, np.full((5000, 3), 0.5, np.float32), views=8, size=64))


def test_colours_are_shaded_and_background_is_configurable():
    sphere = unit_sphere(20_000)
    img = render_views(sphere, np.tile([[1.0, 0.0, 0.0]], (20_000, 1)), views=1, size=64, background=(0, 0, 0))[
        0
    ].numpy()
    mask = img.sum(axis=-1) > 0
    assert np.all(img[mask][:, 1:] == 0) and img[mask][:, 0].max() > 200
    assert np.all(img[~mask] == 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_matches_cpu():
    clouds = [lopsided_cloud(), unit_sphere(50_000)]
    cpu = render_batch(clouds, views=8, size=128, device="cpu")
    gpu = render_batch(clouds, views=8, size=128, device="cuda")
    assert gpu.device.type == "cpu"
    assert (cpu != gpu).any(dim=-1).float().mean() < 1e-3  # boundary pixels may round differently
    assert torch.equal(gpu, render_batch(clouds, views=8, size=128, device="cuda"))


def test_contact_sheet_tiles_views():
    images = render_views(lopsided_cloud(), views=8, size=40)
    sheet = contact_sheet(images, gap=4)
    assert sheet.size == (4 * 40 + 3 * 4, 2 * 40 + 4)
    np.testing.assert_array_equal(np.asarray(sheet)[44:84, 44:84], images[5].numpy())
    assert contact_sheet(images[:3]).size == (3 * 40 + 2 * 4, 40)


@pytest.mark.parametrize("fmt", ["webp", "png"])
def test_render_file_writes_views_and_sheet(tmp_path, fmt):
    np.save(tmp_path / "cloud.npy", lopsided_cloud())
    paths = render_file(tmp_path / "cloud.npy", tmp_path / "out", views=3, size=48, fmt=fmt)
    assert [p.name for p in paths] == [f"view_00.{fmt}", f"view_01.{fmt}", f"view_02.{fmt}", f"sheet.{fmt}"]
    for p in paths[:-1]:
        with Image.open(p) as im:
            assert im.size == (48, 48) and im.format == fmt.upper()
    with Image.open(paths[-1]) as im:
        assert im.size == (3 * 48 + 2 * 4, 48)


def test_png_holds_exactly_the_rendered_normalised_cloud(tmp_path):
    from sampling.pointcloud_io import normalize_points

    cloud = lopsided_cloud()
    np.save(tmp_path / "cloud.npy", cloud)
    paths = render_file(tmp_path / "cloud.npy", tmp_path / "out", views=2, size=48, fmt="png")
    expected = render_views(normalize_points(cloud), views=2, size=48)
    with Image.open(paths[1]) as im:
        np.testing.assert_array_equal(np.asarray(im), expected[1].numpy())


def test_bad_input_errors(tmp_path):
    (tmp_path / "corrupt.ply").write_bytes(b"ply\nthis is broken")
    with pytest.raises(PointCloudError, match="corrupt.ply"):
        render_file(tmp_path / "corrupt.ply", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="N>0"):
        render_views(np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match="format"):
        render_file(tmp_path / "corrupt.ply", tmp_path / "out", fmt="jpeg")
    with pytest.raises(ValueError, match="colours"):
        render_views(unit_sphere(10), np.zeros((9, 3), np.float32))
