"""The encoder families: a text tower and a media tower of one bimodal model per space.

- `clip`: a Hugging Face dual encoder with `get_text_features` / `get_image_features`
  (CLIPModel, SiglipModel and the like), photos through its image processor.
- `clap`: a Hugging Face `ClapModel`-like model (`get_audio_features`), audio through its
  feature extractor at its sampling rate, mono, the first `max_seconds`.
- `clip-video`: a `clip` checkpoint applied to `frames` frames sampled evenly over the clip
  (PyAV), the frame vectors mean-pooled (the frame-sampling recipe for video retrieval).
- `points-torchscript`: `points_encoder.pt`, a TorchScript module taking float32 [B, N, 3]
  clouds (centred, unit sphere) and returning [B, D]; its text tower is the `clip`-style
  checkpoint in the `text/` subfolder. No point-cloud family ships in transformers, so any
  model (ULIP, Uni3D, OpenShape...) is exported to TorchScript once and loaded here.

Every vector is float32 and unit length. Batches are cut at fixed positions of the input
list (never by what decoded), so the same rows give bit-identical vectors whether they are
embedded in one part or in many parts whose sizes are multiples of the batch size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .checkpoint import EncoderError, fingerprint, offline, require_file, require_hf_folder
from .decode import decode_audio, decode_image, decode_points, decode_video_frames, decoded_batches

FAMILIES = {
    "clip": "image",
    "clap": "audio",
    "clip-video": "video",
    "points-torchscript": "point_cloud",
}


def _features(output) -> "torch.Tensor":  # noqa: F821
    """transformers 5 returns a model output whose pooler_output is the projected vector."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _unit(rows) -> np.ndarray:
    matrix = rows.detach().float().cpu().numpy()
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if not np.isfinite(matrix).all() or (norms == 0).any():
        raise EncoderError("the model returned a zero or non-finite vector")
    return (matrix / norms).astype(np.float32)


class TextTower:
    """The text side of a Hugging Face dual encoder (tokenizer + `get_text_features`)."""

    def __init__(self, folder: Path, model, device, what: str) -> None:
        from transformers import AutoTokenizer

        self.model, self.device = model, device
        self.dim = 0  # set by the encoder after its first probe
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EncoderError(f"{what}: the tokenizer in {folder} does not load: {exc}") from None
        config = model.config
        text_config = getattr(config, "text_config", config)
        self.max_length = int(getattr(text_config, "max_position_embeddings", 77))
        # SigLIP was trained on texts padded to a fixed length; CLIP-likes mask their padding.
        self.padding = "max_length" if str(getattr(config, "model_type", "")).startswith("siglip") else True

    def describe(self) -> dict:
        return {
            "tokenizer": type(self.tokenizer).__name__,
            "max_length": self.max_length,
            "padding": self.padding if isinstance(self.padding, str) else "longest",
        }

    def embed(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        import torch

        out = []
        for start in range(0, len(texts), batch_size):
            batch = [str(t) for t in texts[start : start + batch_size]]
            tokens = self.tokenizer(
                batch, padding=self.padding, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            inputs = {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
            with torch.inference_mode():
                out.append(_unit(_features(self.model.get_text_features(**inputs))))
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


def _load_hf_model(folder: Path, what: str, needs: str, device):
    """A transformers model from a local folder that has the media tower `needs`."""
    offline()
    config = require_hf_folder(folder, what)
    from transformers import AutoModel

    try:
        model = AutoModel.from_pretrained(folder, local_files_only=True)
    except Exception as exc:  # safetensors, torch and transformers each raise their own types
        raise EncoderError(f"{what}: the model in {folder} does not load: {exc}") from None
    if not hasattr(model, needs) or not hasattr(model, "get_text_features"):
        raise EncoderError(
            f"{what}: {type(model).__name__} from {folder} has no get_text_features/{needs}; "
            f"this family needs a dual encoder with both towers"
        )
    return model.eval().to(device), config


class Encoder:
    """One loaded model: `embed_texts` and `embed_media` give unit-length float32 rows."""

    family = ""
    target_modality = ""

    def __init__(self, folder: Path, device, batch_size: int = 32, threads: int = 4) -> None:
        self.folder, self.device = Path(folder), device
        self.batch_size, self.threads = batch_size, threads
        self.fingerprint = ""
        self.dim = 0

    def describe(self) -> dict:
        """Name, hash and preprocessing, stored on the space (the same model next time)."""
        raise NotImplementedError

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.text.embed(texts, self.batch_size)
        return vectors.reshape(-1, self.dim)

    def decode(self, path: Path):
        raise NotImplementedError

    def forward(self, decoded: list) -> np.ndarray:
        raise NotImplementedError

    def embed_media(self, paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
        """(indices of the paths that decoded, their vectors, [(index, reason)] of the rest)."""
        indices, vectors, failures = [], [], []
        for batch_indices, values, batch_failures in decoded_batches(paths, self.decode, self.batch_size, self.threads):
            failures += batch_failures
            if values:
                indices += batch_indices
                vectors.append(self.forward(values))
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, self.dim), np.float32)
        return np.asarray(indices, np.int64), matrix, failures

    def _load_dual_encoder(self, needs: str, processor_class: str):
        """Load model, media preprocessor and text tower of a Hugging Face dual encoder folder;
        returns the preprocessor. Every failure names the folder and the part that failed."""
        import transformers

        what = f"{self.family} checkpoint"
        self.model, config = _load_hf_model(self.folder, what, needs, self.device)
        require_file(self.folder / "preprocessor_config.json", what)
        try:
            processor = getattr(transformers, processor_class).from_pretrained(self.folder, local_files_only=True)
        except Exception as exc:  # each processor class raises its own types
            raise EncoderError(f"{what}: the preprocessor in {self.folder} does not load: {exc}") from None
        self.model_name = config.get("_name_or_path") or self.folder.name
        self.model_class = type(self.model).__name__
        self._attach_text(TextTower(self.folder, self.model, self.device, what))
        self.fingerprint = fingerprint(self.folder)
        return processor

    def _attach_text(self, text: "TextTower") -> None:
        self.text = text
        self.dim = text.dim = int(text.embed(["probe"], 1).shape[1])

    def _summary(self) -> dict:
        return {
            "family": self.family,
            "model_class": self.model_class,
            "model_name": self.model_name,
            "fingerprint": self.fingerprint,
            "dim": self.dim,
            "text": self.text.describe(),
        }

    def _check_dim(self, probe: np.ndarray, what: str) -> None:
        if probe.shape[1] != self.dim:
            raise EncoderError(
                f"{what}: the text tower gives {self.dim}-d vectors but the media tower gives {probe.shape[1]}-d"
            )


class ClipEncoder(Encoder):
    family, target_modality = "clip", "image"

    def __init__(self, folder, device, batch_size=32, threads=4) -> None:
        super().__init__(folder, device, batch_size, threads)
        self.processor = self._load_dual_encoder("get_image_features", "AutoImageProcessor")

    def describe(self) -> dict:
        size = getattr(self.processor, "crop_size", None) or getattr(self.processor, "size", None)
        return {
            **self._summary(),
            "image": {
                "processor": type(self.processor).__name__,
                "size": dict(size or {}),
                "mean": list(getattr(self.processor, "image_mean", []) or []),
                "std": list(getattr(self.processor, "image_std", []) or []),
            },
        }

    def decode(self, path: Path):
        return decode_image(path)

    def image_vectors(self, images: list) -> np.ndarray:
        import torch

        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        with torch.inference_mode():
            return _unit(_features(self.model.get_image_features(pixel_values=pixels)))

    def forward(self, decoded: list) -> np.ndarray:
        return self.image_vectors(decoded)


class ClipVideoEncoder(ClipEncoder):
    family, target_modality = "clip-video", "video"
    FRAMES = 8

    def describe(self) -> dict:
        return {
            **super().describe(),
            "video": {
                "frames": self.FRAMES,
                "pooling": "mean of unit frame vectors",
                "sampling": "evenly over the duration",
            },
        }

    def decode(self, path: Path):
        return decode_video_frames(path, self.FRAMES)

    def forward(self, decoded: list) -> np.ndarray:
        frames = [image for clip in decoded for image in clip]
        per_frame = self.image_vectors(frames).reshape(len(decoded), self.FRAMES, -1)
        pooled = per_frame.mean(axis=1)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)


class ClapEncoder(Encoder):
    family, target_modality = "clap", "audio"
    MAX_SECONDS = 10.0

    def __init__(self, folder, device, batch_size=32, threads=4) -> None:
        super().__init__(folder, device, batch_size, threads)
        self.extractor = self._load_dual_encoder("get_audio_features", "AutoFeatureExtractor")
        self.sample_rate = int(self.extractor.sampling_rate)
        self.max_seconds = float(getattr(self.extractor, "max_length_s", self.MAX_SECONDS) or self.MAX_SECONDS)

    def describe(self) -> dict:
        return {
            **self._summary(),
            "audio": {
                "extractor": type(self.extractor).__name__,
                "sample_rate": self.sample_rate,
                "max_seconds": self.max_seconds,
                "channels": "mono (mean)",
                "crop": "first max_seconds",
            },
        }

    def decode(self, path: Path):
        return decode_audio(path, self.sample_rate, self.max_seconds)

    def forward(self, decoded: list) -> np.ndarray:
        import torch

        features = self.extractor(decoded, sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in features.items()}
        with torch.inference_mode():
            return _unit(_features(self.model.get_audio_features(**inputs)))


class PointsTorchScriptEncoder(Encoder):
    family, target_modality = "points-torchscript", "point_cloud"
    POINTS = 2048

    def __init__(self, folder, device, batch_size=32, threads=4) -> None:
        import torch

        super().__init__(folder, device, batch_size, threads)
        what = f"{self.family} checkpoint"
        offline()
        if not self.folder.is_dir():
            raise EncoderError(f"{what}: checkpoint folder {self.folder} does not exist")
        module_path = require_file(self.folder / "points_encoder.pt", what)
        options_path = self.folder / "pairrate-points.json"
        self.points = self.POINTS
        if options_path.is_file():
            try:
                self.points = int(json.loads(options_path.read_text())["points"])
            except (ValueError, KeyError, TypeError) as exc:
                raise EncoderError(f'{what}: {options_path}: expected {{"points": N}} ({exc})') from None
        try:
            self.module = torch.jit.load(str(module_path), map_location=device).eval()
        except Exception as exc:  # torch raises RuntimeError, ValueError or its own types
            raise EncoderError(f"{what}: {module_path} is not a loadable TorchScript module: {exc}") from None
        text_model, config = _load_hf_model(self.folder / "text", f"{what} (text/)", "get_text_features", device)
        self.model_class = f"TorchScript + {type(text_model).__name__}"
        self.model_name = config.get("_name_or_path") or "points_encoder.pt"
        self._attach_text(TextTower(self.folder / "text", text_model, device, f"{what} (text/)"))
        try:
            probe = self.forward([np.zeros((self.points, 3), np.float32) + 0.1])
        except (RuntimeError, EncoderError) as exc:
            raise EncoderError(f"{what}: {module_path} fails on a [1, {self.points}, 3] cloud: {exc}") from None
        self._check_dim(probe, what)
        self.fingerprint = fingerprint(self.folder)

    def describe(self) -> dict:
        return {
            **self._summary(),
            "points": {
                "count": self.points,
                "normalise": "centred, unit sphere",
                "sampling": "surface sampling (meshes) / subsample, seed 0",
            },
        }

    def decode(self, path: Path):
        return decode_points(path, self.points)

    def forward(self, decoded: list) -> np.ndarray:
        import torch

        batch = torch.from_numpy(np.stack(decoded)).to(self.device)
        with torch.inference_mode():
            return _unit(self.module(batch))


CLASSES = {cls.family: cls for cls in (ClipEncoder, ClipVideoEncoder, ClapEncoder, PointsTorchScriptEncoder)}


def load_encoder(family: str, folder: str | Path, device=None, batch_size: int = 32, threads: int = 4) -> Encoder:
    """The encoder of `family` from a local checkpoint folder; EncoderError names what is wrong."""
    from ..device import resolve_device

    if family not in CLASSES:
        raise EncoderError(f"unknown encoder family {family!r}; use one of {', '.join(CLASSES)}")
    return CLASSES[family](Path(folder), resolve_device(device), batch_size=batch_size, threads=threads)
