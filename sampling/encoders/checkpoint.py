"""Checkpoint folders: what each encoder family needs on disk, and a fingerprint of it.

Models are only ever loaded from local folders (`local_files_only`, and HF_HUB_OFFLINE is
set before transformers is imported), so a missing file is an error that names the file,
never a download. The fingerprint (sha256 over the files the model is built from) is stored
on the embedding space, so a later re-embed can prove it uses the same model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

# Weights in either of the formats `save_pretrained` writes (safetensors is the default).
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")


class EncoderError(ValueError):
    """A checkpoint folder or encoder that cannot be used (message names the file or field)."""


def require_hf_folder(folder: Path, what: str) -> dict:
    """A Hugging Face folder with config, weights, a tokenizer and a preprocessor config.
    Returns the parsed config.json."""
    if not folder.is_dir():
        raise EncoderError(f"{what}: checkpoint folder {folder} does not exist")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise EncoderError(f"{what}: {config_path} is missing (the model's config)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EncoderError(f"{what}: {config_path} is not valid JSON ({exc})") from None
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise EncoderError(f"{what}: no weights in {folder} (expected one of {', '.join(WEIGHT_FILES)})")
    if not (folder / "tokenizer_config.json").is_file():
        raise EncoderError(f"{what}: {folder / 'tokenizer_config.json'} is missing (the text tower's tokenizer)")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise EncoderError(
            f"{what}: no tokenizer vocabulary in {folder} (expected one of {', '.join(TOKENIZER_FILES)})"
        )
    return config


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise EncoderError(f"{what}: {path} is missing")
    return path


def fingerprint(folder: Path) -> str:
    """sha256 over every regular file of the folder (relative names and bytes, sorted), so the
    same checkpoint copied elsewhere has the same fingerprint and any changed byte changes it."""
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def offline() -> None:
    """Never touch the network: transformers reads these before its first hub call."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
