"""Score captions for explicit content so unfit ones never reach annotators.

Scores are kept per category (`CATEGORIES`): ``sexual`` (explicit sex, nudity,
pornography), ``profanity`` (swearing and insults), ``hate`` (slurs, hateful slogans)
and ``violence_graphic`` (gore, mutilation, killing described graphically). Each
backend produces its own labels; `category_scores` maps them onto the categories
(`LABEL_CATEGORIES`: the highest score of a category's labels), and `filter_mask`
drops a caption when any thresholded category (or raw label) scores above its limit.

Backends behind one small interface (`load_scorer` -> object with `labels` and
`score(texts, batch_size)`):

- ``lexicon`` (default without a Detoxify checkpoint): `sampling.nsfw_lexicon`, a
  curated explicit-content lexicon with context rules and exceptions, offline, all
  four categories, no model files.
- ``detoxify``: a Detoxify checkpoint (``{"config": ..., "state_dict": ...}``) loaded
  strictly from local files. Detoxify's own loader calls
  ``from_pretrained(config.arch.args.model_type)``, i.e. contacts the model hub; here
  that field is replaced by a local Hugging Face config/tokenizer directory, and the
  load fails loudly (`ScorerConfigError`) instead of silently using random weights or
  an empty vocabulary.
- ``profanity``: alt-profanity-check (its model ships inside the wheel): swearing only,
  mapped to the ``profanity`` category.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from sampling.device import resolve_device

DEFAULT_THRESHOLD = 0.5
CATEGORIES = ("sexual", "profanity", "hate", "violence_graphic")
# Backend labels -> category. Detoxify's 'original' model has no sexual_explicit; its
# 'unbiased' and 'multilingual' models do. toxicity/severe_toxicity are Detoxify's
# general scores: they count as profanity/insult.
LABEL_CATEGORIES = {
    "sexual": "sexual",
    "sexual_explicit": "sexual",
    "profanity": "profanity",
    "obscene": "profanity",
    "insult": "profanity",
    "toxicity": "profanity",
    "severe_toxicity": "profanity",
    "hate": "hate",
    "identity_attack": "hate",
    "violence_graphic": "violence_graphic",
    "threat": "violence_graphic",
}

# Detoxify's checkpoints name some classes differently; Detoxify standardises them so.
_DETOXIFY_LABEL_NAMES = {
    "toxic": "toxicity",
    "identity_hate": "identity_attack",
    "severe_toxic": "severe_toxicity",
}
# Files a Hugging Face tokenizer can be built from; without one of them transformers
# builds a tokenizer that maps every word to [UNK] instead of failing.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spiece.model",
)


class ScorerConfigError(ValueError):
    """The configured scorer cannot be loaded (missing/corrupt file, bad setting)."""


class CaptionScorer(Protocol):
    """What every backend provides."""

    labels: tuple[str, ...]
    default_batch_size: int

    def score(self, texts: Sequence[str], batch_size: int | None = None) -> dict[str, np.ndarray]:
        """Per-label probabilities in [0, 1], float32 arrays of len(texts);
        `batch_size` None means the backend's `default_batch_size`."""
        ...


def _batches(n: int, batch_size: int):
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


class ProfanityScorer:
    """alt-profanity-check: a linear model on word n-grams, fast, English only."""

    labels = ("profanity",)
    default_batch_size = 4096  # one vectoriser call has a fixed cost; see bench/bench_nsfw.py

    def __init__(self) -> None:
        try:
            from profanity_check import predict_prob
        except Exception as exc:  # ImportError, or a model pickle that fails to load
            raise ScorerConfigError(f"alt-profanity-check cannot be loaded: {exc}") from exc
        self._predict_prob = predict_prob

    def score(self, texts: Sequence[str], batch_size: int | None = None) -> dict[str, np.ndarray]:
        texts = list(texts)
        out = np.zeros(len(texts), dtype=np.float32)
        for start, stop in _batches(len(texts), self.default_batch_size if batch_size is None else batch_size):
            out[start:stop] = self._predict_prob(texts[start:stop])
        return {"profanity": out}


class LexiconScorer:
    """`sampling.nsfw_lexicon`: rules over words and phrases, one score per category."""

    labels = CATEGORIES
    default_batch_size = 65536  # captions per bulk normalisation; memory only

    def __init__(self) -> None:
        from sampling import nsfw_lexicon

        self._lexicon = nsfw_lexicon

    def score(self, texts: Sequence[str], batch_size: int | None = None) -> dict[str, np.ndarray]:
        texts = list(texts)
        out = np.zeros((len(texts), len(CATEGORIES)), dtype=np.float32)
        for start, stop in _batches(len(texts), self.default_batch_size if batch_size is None else batch_size):
            out[start:stop] = self._lexicon.score(texts[start:stop])
        return {label: out[:, j].copy() for j, label in enumerate(CATEGORIES)}

    def explain(self, texts: Sequence[str]) -> list[list[tuple[str, str, float]]]:
        """Per caption, the matched rules (category, words, weight)."""
        return self._lexicon.explain(texts)


class DetoxifyScorer:
    """A Detoxify checkpoint run with transformers, offline.

    Texts are batched in order of length (less padding, several times faster on long
    tails) and scattered back, so results do not depend on the input order.
    """

    default_batch_size = 64

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        config_dir: str | os.PathLike,
        device: str | torch.device | None = None,
        max_length: int = 512,
    ) -> None:
        self.device = resolve_device(device)
        self.model, self.tokenizer, labels = load_detoxify_checkpoint(checkpoint, config_dir)
        self.model.to(self.device).eval()
        self.labels = tuple(labels)
        self.max_length = min(max_length, _max_positions(self.model.config))

    @torch.inference_mode()
    def score(self, texts: Sequence[str], batch_size: int | None = None) -> dict[str, np.ndarray]:
        texts = list(texts)
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
        for start, stop in _batches(len(texts), self.default_batch_size if batch_size is None else batch_size):
            idx = order[start:stop]
            inputs = self.tokenizer(
                [texts[i] for i in idx],
                return_tensors="pt",
                truncation=True,
                padding=True,
                max_length=self.max_length,
            ).to(self.device)
            logits = self.model(**inputs).logits
            probs[idx] = torch.sigmoid(logits.float()).cpu().numpy()
        return {label: probs[:, j].copy() for j, label in enumerate(self.labels)}


def _max_positions(config) -> int:
    n = getattr(config, "max_position_embeddings", 512) or 512
    # RoBERTa reserves two positions for padding offsets.
    return n - 2 if getattr(config, "model_type", "") in ("roberta", "xlm-roberta") else n


def _read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise ScorerConfigError(f"Detoxify checkpoint not found: {path}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        try:
            # Lightning checkpoints may hold pickled extras that weights_only refuses;
            # the file is an operator-configured local path, as in Detoxify itself.
            loaded = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ScorerConfigError(f"Detoxify checkpoint {path} cannot be read: {exc}") from exc
    if not isinstance(loaded, Mapping) or "config" not in loaded or "state_dict" not in loaded:
        raise ScorerConfigError(f"{path} is not a Detoxify checkpoint: it needs 'config' and 'state_dict' keys")
    return loaded


def _checkpoint_field(ckpt: Mapping, path: Path, *keys: str):
    node = ckpt
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            raise ScorerConfigError(f"{path}: checkpoint config lacks {'.'.join(keys)}")
        node = node[key]
    return node


def load_detoxify_checkpoint(checkpoint: str | os.PathLike, config_dir: str | os.PathLike):
    """Load a Detoxify checkpoint offline -> (model, tokenizer, labels).

    `config_dir` replaces ``config.arch.args.model_type`` (a hub name such as
    ``bert-base-uncased``): it must hold that model's ``config.json`` and tokenizer
    files. Every weight of the model must come from the checkpoint.
    """
    import transformers

    path, config_dir = Path(checkpoint), Path(config_dir)
    ckpt = _read_checkpoint(path)
    arch = _checkpoint_field(ckpt, path, "config", "arch", "args")
    classes = _checkpoint_field(ckpt, path, "config", "dataset", "args", "classes")
    labels = [_DETOXIFY_LABEL_NAMES.get(c, c) for c in classes]
    model_name = arch.get("model_name")
    tokenizer_name = arch.get("tokenizer_name")
    model_class = getattr(transformers, str(model_name), None)
    tokenizer_class = getattr(transformers, str(tokenizer_name), None)
    if model_class is None or tokenizer_class is None:
        raise ScorerConfigError(f"{path}: unknown model/tokenizer class {model_name!r}/{tokenizer_name!r}")
    num_classes = int(arch.get("num_classes", len(labels)))
    if num_classes != len(labels):
        raise ScorerConfigError(f"{path}: {num_classes} outputs but {len(labels)} class names")

    if not (config_dir / "config.json").is_file():
        raise ScorerConfigError(f"config directory {config_dir} has no config.json")
    if not any((config_dir / name).is_file() for name in _TOKENIZER_FILES):
        raise ScorerConfigError(f"config directory {config_dir} has no tokenizer files (one of {_TOKENIZER_FILES})")
    try:
        config = model_class.config_class.from_pretrained(config_dir, num_labels=num_classes, local_files_only=True)
        tokenizer = tokenizer_class.from_pretrained(config_dir, local_files_only=True)
    except Exception as exc:
        raise ScorerConfigError(f"config directory {config_dir} cannot be loaded: {exc}") from exc
    if len(tokenizer) <= len(tokenizer.all_special_tokens):
        raise ScorerConfigError(f"tokenizer in {config_dir} has an empty vocabulary")

    state_dict = ckpt["state_dict"]
    try:
        model, info = model_class.from_pretrained(None, config=config, state_dict=state_dict, output_loading_info=True)
    except Exception as exc:
        raise ScorerConfigError(f"{path}: weights do not fit {model_name}: {exc}") from exc
    missing = sorted(info.get("missing_keys", ())) + sorted(info.get("mismatched_keys", ()))
    if missing:
        raise ScorerConfigError(f"{path}: weights missing or mis-shaped for {model_name}: {missing[:5]}")
    return model, tokenizer, labels


BACKENDS = ("lexicon", "detoxify", "profanity")


def load_scorer(backend: str | None = None, **settings) -> CaptionScorer:
    """Build a scorer. `backend=None` picks detoxify if a checkpoint is set, else lexicon.

    detoxify settings: ``checkpoint`` (file), ``config_dir`` (HF config + tokenizer),
    optional ``device``, ``max_length``. lexicon and profanity take none. Unknown
    settings and missing required ones raise `ScorerConfigError`.
    """
    settings = {k: v for k, v in settings.items() if v is not None}
    if backend is None:
        backend = "detoxify" if settings.get("checkpoint") else "lexicon"
    if backend in ("profanity", "lexicon"):
        extra = set(settings) - {"device"}
        if extra:
            raise ScorerConfigError(f"{backend} backend takes no settings, got {sorted(extra)}")
        return ProfanityScorer() if backend == "profanity" else LexiconScorer()
    if backend == "detoxify":
        allowed = {"checkpoint", "config_dir", "device", "max_length"}
        if set(settings) - allowed:
            raise ScorerConfigError(f"unknown detoxify settings {sorted(set(settings) - allowed)}")
        for key in ("checkpoint", "config_dir"):
            if not settings.get(key):
                raise ScorerConfigError(f"detoxify backend needs the {key!r} setting")
        return DetoxifyScorer(**settings)
    raise ScorerConfigError(f"unknown backend {backend!r}; choose one of {BACKENDS}")


def default_thresholds(labels: Sequence[str], value: float = DEFAULT_THRESHOLD) -> dict[str, float]:
    return {label: float(value) for label in labels}


def scorer_categories(labels: Sequence[str]) -> tuple[str, ...]:
    """The categories a backend with these labels scores, in `CATEGORIES` order."""
    present = {LABEL_CATEGORIES[label] for label in labels if label in LABEL_CATEGORIES}
    return tuple(c for c in CATEGORIES if c in present)


def category_scores(scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per category, the highest score of the backend labels mapped onto it."""
    out: dict[str, np.ndarray] = {}
    for label, values in scores.items():
        category = LABEL_CATEGORIES.get(label)
        if category is None:
            continue
        values = np.asarray(values, dtype=np.float32)
        out[category] = values.copy() if category not in out else np.maximum(out[category], values)
    return {c: out[c] for c in CATEGORIES if c in out}


def with_categories(scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw label scores plus the category scores (a category named like a label,
    e.g. the lexicon's, keeps its value)."""
    return {**category_scores(scores), **{k: np.asarray(v, dtype=np.float32) for k, v in scores.items()}}


def drop_reasons(
    scores: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float],
    matches: Sequence[Sequence[tuple[str, str, float]]] | None = None,
) -> list[str]:
    """Per caption, why it is dropped ('' when kept): every thresholded label over its
    limit, highest first, e.g. ``sexual 0.92 > 0.5 (naked)``; `matches` (from the
    lexicon's `explain`) adds the words that matched."""
    if not scores:
        return []
    n = len(next(iter(scores.values())))
    reasons = []
    for i in range(n):
        over = sorted(
            ((float(scores[k][i]), k) for k, limit in thresholds.items() if float(scores[k][i]) > float(limit)),
            reverse=True,
        )
        parts = []
        for value, label in over:
            part = f"{label} {value:.2f} > {float(thresholds[label]):g}"
            if matches is not None:
                words = sorted({w for c, w, _ in matches[i] if c == label})
                if words:
                    part += f" ({', '.join(words)})"
            parts.append(part)
        reasons.append("; ".join(parts))
    return reasons


def calibrate(
    scores: Mapping[str, np.ndarray],
    labels: Sequence[str],
    thresholds: Mapping[str, float],
    target_recall: float = 0.95,
) -> dict[str, dict]:
    """Precision/recall per category on captions labelled by people, and a suggested threshold.

    `labels[i]` is ``"clean"`` or the category caption i belongs to. For category c,
    positives are the captions labelled c and negatives those labelled clean (a
    caption labelled with another category counts for neither). The suggestion is the
    highest threshold whose recall is at least `target_recall` (so the fewest clean
    captions are lost), or the one with the best recall when none reaches it.
    """
    labels = np.asarray(labels, dtype=object)
    report: dict[str, dict] = {}
    for category, values in category_scores(scores).items():
        positive, negative = labels == category, labels == "clean"
        if not positive.any() and not negative.any():
            continue
        values = np.asarray(values, dtype=np.float32)
        limit = float(thresholds.get(category, DEFAULT_THRESHOLD))
        entry = {
            "positives": int(positive.sum()),
            "negatives": int(negative.sum()),
            "threshold": limit,
            **_precision_recall(values, positive, negative, limit),
        }
        if positive.any():
            # Dropping means score > threshold: candidates sit a little below each positive's
            # score, on a 0.001 grid, so the comparison holds in float32 and float64 alike.
            below = np.floor(values[positive] * 1000.0) / 1000.0 - 0.001
            candidates = np.unique(np.clip(np.concatenate([[0.0], below]), 0.0, 1.0))
            results = [(t, _precision_recall(values, positive, negative, t)) for t in candidates]
            reaching = [(t, r) for t, r in results if r["recall"] >= target_recall]
            best_t, best = (
                max(reaching, key=lambda tr: tr[0])
                if reaching
                else max(results, key=lambda tr: (tr[1]["recall"], tr[0]))
            )
            entry["suggested_threshold"] = round(float(best_t), 3)
            entry["suggested"] = best
        report[category] = entry
    return report


def _precision_recall(values: np.ndarray, positive: np.ndarray, negative: np.ndarray, limit: float) -> dict:
    flagged = values > limit
    tp, fp = int((flagged & positive).sum()), int((flagged & negative).sum())
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / int(positive.sum()), 4) if positive.any() else None,
        "false_positive_rate": round(fp / int(negative.sum()), 4) if negative.any() else None,
    }


def filter_mask(scores: Mapping[str, np.ndarray], thresholds: Mapping[str, float]) -> np.ndarray:
    """True = keep. A caption is dropped when any thresholded label scores above it.

    Labels absent from `thresholds` are ignored; a threshold for a label the scorer
    does not produce is a configuration mistake and raises `ScorerConfigError`.
    """
    unknown = set(thresholds) - set(scores)
    if unknown:
        raise ScorerConfigError(f"thresholds for unknown labels {sorted(unknown)}; scorer has {sorted(scores)}")
    if not scores:
        raise ValueError("no scores given")
    n = len(next(iter(scores.values())))
    keep = np.ones(n, dtype=bool)
    for label, limit in thresholds.items():
        keep &= ~(np.asarray(scores[label]) > float(limit))
    return keep
