"""The encoder families on real files: offline loading, unit vectors, determinism, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sampling.encoders import EncoderError, load_encoder

from .conftest import DIM, coco_photos, freedesktop_sounds, meshes, videos

MEDIA = {"clip": coco_photos, "clap": freedesktop_sounds, "points-torchscript": meshes, "clip-video": videos}


@pytest.mark.parametrize("family", ["clip", "clap", "points-torchscript", "clip-video"])
def test_family_embeds_real_media_as_unit_vectors_deterministically(family, checkpoints, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # the loader must switch the hub off by itself
    files = MEDIA[family]()[:6]
    assert len(files) >= 3, f"real media for {family} are missing on this machine"
    first = load_encoder(family, checkpoints[family], batch_size=4)
    indices, vectors, failures = first.embed_media(files)
    assert failures == [] and indices.tolist() == list(range(len(files)))
    assert vectors.shape == (len(files), DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len({tuple(np.round(v, 5)) for v in vectors}) == len(files), "different files, different vectors"
    texts = first.embed_texts(["a dog barks at a passing car", "rain on a tin roof", "a red chair"])
    assert texts.shape == (3, DIM)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    again = load_encoder(family, checkpoints[family], batch_size=4)  # a fresh load, as another worker would
    np.testing.assert_array_equal(again.embed_media(files)[1], vectors)
    np.testing.assert_array_equal(
        again.embed_texts(["a dog barks at a passing car", "rain on a tin roof", "a red chair"]), texts
    )
    # Alone in its batch (other padding) a text gets the same vector up to rounding.
    np.testing.assert_allclose(again.embed_texts(["a dog barks at a passing car"]), texts[:1], atol=1e-5)
    assert first.fingerprint == again.fingerprint and len(first.fingerprint) == 64
    info = first.describe()
    assert info["family"] == family and info["dim"] == DIM and info["fingerprint"] == first.fingerprint


def test_batches_cut_at_fixed_positions_give_identical_vectors_however_split(checkpoints):
    """One list in one call equals the same list cut at batch multiples (what parts do)."""
    encoder = load_encoder("clip", checkpoints["clip"], batch_size=4)
    photos = coco_photos()[:12]
    whole = encoder.embed_media(photos)[1]
    split = np.concatenate([encoder.embed_media(photos[:8])[1], encoder.embed_media(photos[8:])[1]])
    np.testing.assert_array_equal(whole, split)


def test_media_that_fail_to_decode_are_reported_with_their_reason_and_skipped(checkpoints, tmp_path):
    photos = coco_photos()[:3]
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(photos[0].read_bytes()[:300])
    not_audio = tmp_path / "notes.oga"
    not_audio.write_text("not a sound")
    encoder = load_encoder("clip", checkpoints["clip"], batch_size=2)
    indices, vectors, failures = encoder.embed_media([photos[0], corrupt, photos[1], photos[2]])
    assert indices.tolist() == [0, 2, 3] and vectors.shape == (3, DIM)
    assert [i for i, _ in failures] == [1] and "image does not decode" in failures[0][1]
    # The vectors are the good photos', in order (batches cut elsewhere: equal up to rounding).
    np.testing.assert_allclose(vectors, encoder.embed_media(photos)[1], atol=1e-5)
    clap = load_encoder("clap", checkpoints["clap"])
    _, _, audio_failures = clap.embed_media([not_audio, freedesktop_sounds()[0]])
    assert [i for i, _ in audio_failures] == [0] and "audio" in audio_failures[0][1]


@pytest.mark.parametrize(
    "remove, named",
    [
        ("config.json", "config.json"),
        ("model.safetensors", "no weights"),
        ("tokenizer_config.json", "tokenizer_config.json"),
        ("preprocessor_config.json", "preprocessor_config.json"),
    ],
)
def test_incomplete_checkpoint_folder_names_the_missing_file(checkpoints, tmp_path, remove, named):
    folder = tmp_path / "clip"
    shutil.copytree(checkpoints["clip"], folder)
    (folder / remove).unlink()
    with pytest.raises(EncoderError, match=named):
        load_encoder("clip", folder)


def test_corrupt_weights_and_bad_torchscript_are_clear_errors(checkpoints, tmp_path):
    folder = tmp_path / "clip"
    shutil.copytree(checkpoints["clip"], folder)
    (folder / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(EncoderError, match="does not load"):
        load_encoder("clip", folder)
    points = tmp_path / "points"
    shutil.copytree(checkpoints["points-torchscript"], points)
    (points / "points_encoder.pt").write_bytes(b"not a zip archive")
    with pytest.raises(EncoderError, match="points_encoder.pt is not a loadable TorchScript module"):
        load_encoder("points-torchscript", points)
    with pytest.raises(EncoderError, match="does not exist"):
        load_encoder("clip", tmp_path / "nowhere")
    with pytest.raises(EncoderError, match="unknown encoder family"):
        load_encoder("word2vec", folder)


def test_fingerprint_changes_with_any_byte(checkpoints, tmp_path):
    from sampling.encoders import fingerprint

    folder = tmp_path / "clip"
    shutil.copytree(checkpoints["clip"], folder)
    before = fingerprint(folder)
    assert fingerprint(Path(checkpoints["clip"])) == before  # a copy has the same fingerprint
    config = folder / "preprocessor_config.json"
    config.write_text(config.read_text().replace("0.48145466", "0.5"))
    assert fingerprint(folder) != before
