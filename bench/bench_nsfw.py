"""Throughput and quality of sampling.nsfw: captions/s per backend, and the default
lexicon side by side with alt-profanity-check on the evaluation set of tests/data/nsfw.

Quality: recall on the explicit captions (sexual; the held-out part separately), share
of real clean COCO + AudioCaps captions (../shared/data) flagged, share of trap
captions flagged; a caption is flagged when any category (alt-profanity-check: its one
score) is above 0.5. Speed: the real clean captions repeated (the lexicon looks closer
at captions holding a trigger word, so real text is the honest load) and synthetic ones.

The detoxify backend is measured with a BERT-base-sized model (12 layers, hidden 768,
vocabulary 30,522, 7 'unbiased' labels) with random weights, written locally in
Detoxify's checkpoint format and loaded through `load_scorer`: no real checkpoint can be
downloaded here, and speed does not depend on the weights. (The real 'unbiased' model
is RoBERTa-base, the same size class.) Captions are synthetic, 6-20 words.

Run: `python bench/bench_nsfw.py [--device cuda] [--detoxify-captions 4096] [--skip-detoxify]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_render import machine  # noqa: E402
from sampling.device import resolve_device  # noqa: E402
from sampling.nsfw import load_scorer  # noqa: E402

WORDS = (
    "a the dog cat man woman child car red blue green small large old young running sitting on in "
    "under near beside street park beach table sofa grill chicken breast playing with ball window "
    "snow water tree house city night sunny photo of two three people"
).split()
LABELS = ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit"]


def synthetic_captions(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(6, 21))) for _ in range(count)]


def write_bert_base_checkpoint(root: Path) -> tuple[Path, Path]:
    from transformers import BertConfig, BertForSequenceClassification

    config_dir = root / "bert-base"
    config_dir.mkdir()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = specials + sorted(set(WORDS))
    vocab += [f"tok{i}" for i in range(30522 - len(vocab))]
    (config_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    config = BertConfig(vocab_size=len(vocab), num_labels=len(LABELS))  # defaults are BERT-base
    config.save_pretrained(config_dir)
    torch.manual_seed(0)
    checkpoint = root / "toxic_bert_base_random.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        "model_type": "bert-base-uncased",
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(LABELS),
                    }
                },
                "dataset": {"args": {"classes": LABELS}},
            },
            "state_dict": BertForSequenceClassification(config).state_dict(),
        },
        checkpoint,
    )
    return checkpoint, config_dir


def measure(scorer, captions: list[str], batch_size: int, device: torch.device) -> float:
    scorer.score(captions[:batch_size], batch_size)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    scorer.score(captions, batch_size)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return len(captions) / (time.perf_counter() - start)


REPO = Path(__file__).resolve().parents[1]
EVAL = REPO / "tests" / "data" / "nsfw"
SHARED = REPO.parent / "shared" / "data"


def eval_lines(name: str) -> list[str]:
    return [line for line in (EVAL / f"{name}.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


def real_clean_captions() -> list[str]:
    import csv
    import json

    texts = []
    coco = SHARED / "coco-val2017-mini" / "captions.jsonl"
    if coco.is_file():
        texts += [c for line in coco.read_text().splitlines() if line.strip() for c in json.loads(line)["captions"]]
    for path in sorted((SHARED / "audiocaps").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            texts += [row["caption"] for row in csv.DictReader(f)]
    return texts


def flagged_share(scorer, texts: list[str], category: str | None) -> float:
    from sampling.nsfw import category_scores

    scores = category_scores(scorer.score(texts))
    if category is not None and category in scores:
        return float((scores[category] > 0.5).mean())
    return float((np.max(list(scores.values()), axis=0) > 0.5).mean())


def quality(scorers: dict) -> None:
    sets = [
        ("sexual recall: dev (hand-written)", "sexual_dev", "sexual"),
        ("sexual recall: templated", "explicit_templated", "sexual"),
        ("sexual recall: held-out", "sexual_heldout", "sexual"),
        ("profanity recall", "profanity", "profanity"),
        ("hate recall", "hate", "hate"),
        ("violence_graphic recall", "violence", "violence_graphic"),
        ("traps flagged (clean)", "clean_traps", None),
        ("templated traps flagged", "clean_templated", None),
    ]
    names = list(scorers)
    print(f"{'':40s}" + "".join(f"{n:>22s}" for n in names))
    for title, name, category in sets:
        texts = eval_lines(name)
        # alt-profanity-check has one score: it stands for every category.
        row = [flagged_share(scorers[n], texts, category) for n in names]
        print(f"{title + f' ({len(texts)})':40s}" + "".join(f"{v:>22.3f}" for v in row))
    real = real_clean_captions()
    if real:
        row = [flagged_share(scorers[n], real, None) for n in names]
        counts = [round(v * len(real)) for v in row]
        print(
            f"{f'real COCO+AudioCaps flagged ({len(real)})':40s}"
            + "".join(f"{f'{v:.4f} ({c})':>22s}" for v, c in zip(row, counts))
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="device for detoxify: cpu or cuda (default: auto)")
    parser.add_argument("--profanity-captions", type=int, default=20_000)
    parser.add_argument("--profanity-batch", type=int, nargs="+", default=[64, 1024, 4096, 8192])
    parser.add_argument("--detoxify-captions", type=int, default=None, help="default: 256 on CPU, 8192 on GPU")
    parser.add_argument(
        "--detoxify-batch", type=int, nargs="+", default=None, help="default: 16 64 on CPU, 64 256 on GPU"
    )
    parser.add_argument("--lexicon-captions", type=int, default=200_000)
    parser.add_argument("--skip-detoxify", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    print(machine(device))

    lexicon, profanity = load_scorer("lexicon"), load_scorer("profanity")
    quality({"lexicon (default)": lexicon, "alt-profanity-check": profanity})

    real = real_clean_captions() or synthetic_captions(10_000, seed=2)
    repeated = (real * (args.lexicon_captions // len(real) + 1))[: args.lexicon_captions]
    for name, texts in (("real captions", repeated), ("synthetic", synthetic_captions(args.lexicon_captions))):
        rate = measure(lexicon, texts, lexicon.default_batch_size, torch.device("cpu"))
        print(f"lexicon    batch {lexicon.default_batch_size:5d}: {rate:10.0f} captions/s  ({len(texts)} {name}, CPU)")
        rate = measure(profanity, texts[:50_000], 4096, torch.device("cpu"))
        print(f"profanity  batch  4096: {rate:10.0f} captions/s  (50000 {name}, CPU)")

    photos = sorted((SHARED / "coco-val2017-mini" / "images").glob("*.jpg"))
    if photos:
        from sampling.nsfw_media import MediaScorer

        media = MediaScorer()
        media.score_files(photos[:2])  # warm-up
        start = time.perf_counter()
        scores, _ = media.score_files(photos)
        elapsed = time.perf_counter() - start
        print(
            f"media (open_nsfw, CPU): {len(photos) / elapsed:6.1f} images/s over {len(photos)} COCO photos, "
            f"max score {np.nanmax(scores):.3f}"
        )

    captions = synthetic_captions(args.profanity_captions)
    for batch in args.profanity_batch:
        rate = measure(profanity, captions, batch, torch.device("cpu"))
        print(f"profanity  batch {batch:5d}: {rate:10.0f} captions/s  ({len(captions)} captions, CPU)")

    if args.skip_detoxify:
        return
    count = args.detoxify_captions or (8192 if gpu else 256)
    captions = synthetic_captions(count, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, config_dir = write_bert_base_checkpoint(Path(tmp))
        detoxify = load_scorer("detoxify", checkpoint=checkpoint, config_dir=config_dir, device=device)
        for batch in args.detoxify_batch or ([64, 256] if gpu else [16, 64]):
            rate = measure(detoxify, captions, batch, device)
            print(
                f"detoxify   batch {batch:5d}: {rate:10.1f} captions/s  ({count} captions, BERT-base "
                f"random weights, {device})"
            )


if __name__ == "__main__":
    main()
