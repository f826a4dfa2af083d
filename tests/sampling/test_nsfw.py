"""Caption scorers: a tiny Detoxify-format checkpoint built here, alt-profanity-check, and
how backend labels become categories (the lexicon itself: test_nsfw_lexicon.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sampling.nsfw import (
    CATEGORIES,
    ScorerConfigError,
    calibrate,
    category_scores,
    default_thresholds,
    drop_reasons,
    filter_mask,
    load_scorer,
    scorer_categories,
    with_categories,
)

UNBIASED_LABELS = ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit"]
VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "a",
    "cat",
    "on",
    "the",
    "sofa",
    "you",
    "idiot",
    "grill",
    "chicken",
    "dog",
    "runs",
    "in",
    "park",
    "##s",
]
CAPTIONS = ["a cat on the sofa", "you idiot", "the dog runs in the park", "chicken on the grill", "", "a cat " * 400]


def write_detoxify_fixture(root, labels=UNBIASED_LABELS, with_vocab=True, seed=0):
    """A random small BERT saved the way Detoxify ships models -> (checkpoint, config_dir, state_dict)."""
    from transformers import BertConfig, BertForSequenceClassification

    config_dir = root / "hf"
    config_dir.mkdir(parents=True, exist_ok=True)
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=len(labels),
    )
    config.save_pretrained(config_dir)
    if with_vocab:
        (config_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    torch.manual_seed(seed)
    state_dict = BertForSequenceClassification(config).state_dict()
    checkpoint = root / "toxic.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        "model_type": "bert-base-uncased",
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(labels),
                    }
                },
                "dataset": {"args": {"classes": list(labels)}},
            },
            "state_dict": state_dict,
        },
        checkpoint,
    )
    return checkpoint, config_dir, state_dict


@pytest.fixture(scope="module")
def detoxify_files(tmp_path_factory):
    return write_detoxify_fixture(tmp_path_factory.mktemp("detoxify"))


@pytest.fixture(scope="module")
def detoxify_scorer(detoxify_files):
    checkpoint, config_dir, _ = detoxify_files
    return load_scorer("detoxify", checkpoint=checkpoint, config_dir=config_dir, device="cpu")


def test_detoxify_loads_saved_weights(detoxify_files, detoxify_scorer):
    _, _, saved = detoxify_files
    loaded = detoxify_scorer.model.state_dict()
    assert set(saved) <= set(loaded)
    for name, tensor in saved.items():
        assert torch.equal(loaded[name].cpu(), tensor), name


def test_detoxify_scores_every_label_in_unit_interval(detoxify_scorer):
    assert detoxify_scorer.labels == tuple(UNBIASED_LABELS)
    scores = detoxify_scorer.score(CAPTIONS, batch_size=2)
    assert set(scores) == set(UNBIASED_LABELS)
    for values in scores.values():
        assert values.dtype == np.float32 and values.shape == (len(CAPTIONS),)
        assert np.all((values >= 0) & (values <= 1))
    # A random model still tells different captions apart.
    assert len(np.unique(scores["toxicity"])) > 1


def test_detoxify_is_deterministic_and_independent_of_batching_and_order(detoxify_scorer):
    first = detoxify_scorer.score(CAPTIONS, batch_size=2)
    again = detoxify_scorer.score(CAPTIONS, batch_size=2)
    one_batch = detoxify_scorer.score(CAPTIONS)  # default batch size: all in one
    reversed_ = detoxify_scorer.score(CAPTIONS[::-1], batch_size=3)
    for label in first:
        np.testing.assert_array_equal(first[label], again[label])
        np.testing.assert_allclose(first[label], one_batch[label], atol=1e-5)
        np.testing.assert_allclose(first[label], reversed_[label][::-1], atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_detoxify_gpu_matches_cpu(detoxify_files, detoxify_scorer):
    checkpoint, config_dir, _ = detoxify_files
    gpu = load_scorer("detoxify", checkpoint=checkpoint, config_dir=config_dir, device="cuda")
    cpu_scores, gpu_scores = detoxify_scorer.score(CAPTIONS), gpu.score(CAPTIONS)
    for label in cpu_scores:
        np.testing.assert_allclose(cpu_scores[label], gpu_scores[label], atol=1e-4)


def test_missing_checkpoint_is_a_config_error(detoxify_files, tmp_path):
    _, config_dir, _ = detoxify_files
    with pytest.raises(ScorerConfigError, match="not found"):
        load_scorer("detoxify", checkpoint=tmp_path / "absent.ckpt", config_dir=config_dir)


def test_corrupt_checkpoint_is_a_config_error(detoxify_files, tmp_path):
    _, config_dir, _ = detoxify_files
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a torch file" * 10)
    with pytest.raises(ScorerConfigError, match="cannot be read"):
        load_scorer("detoxify", checkpoint=corrupt, config_dir=config_dir)
    plain = tmp_path / "plain.ckpt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(ScorerConfigError, match="not a Detoxify checkpoint"):
        load_scorer("detoxify", checkpoint=plain, config_dir=config_dir)


def test_checkpoint_with_missing_weights_is_a_config_error(detoxify_files, tmp_path):
    checkpoint, config_dir, _ = detoxify_files
    ckpt = torch.load(checkpoint, weights_only=True)
    ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith("classifier")}
    partial = tmp_path / "partial.ckpt"
    torch.save(ckpt, partial)
    with pytest.raises(ScorerConfigError, match="classifier"):
        load_scorer("detoxify", checkpoint=partial, config_dir=config_dir)


def test_config_dir_without_vocab_is_a_config_error(tmp_path):
    checkpoint, config_dir, _ = write_detoxify_fixture(tmp_path, with_vocab=False)
    with pytest.raises(ScorerConfigError, match="tokenizer"):
        load_scorer("detoxify", checkpoint=checkpoint, config_dir=config_dir)
    with pytest.raises(ScorerConfigError, match="config.json"):
        load_scorer("detoxify", checkpoint=checkpoint, config_dir=tmp_path / "nowhere")


def test_detoxify_needs_both_settings_and_backend_must_exist(detoxify_files):
    checkpoint, _, _ = detoxify_files
    with pytest.raises(ScorerConfigError, match="config_dir"):
        load_scorer("detoxify", checkpoint=checkpoint)
    with pytest.raises(ScorerConfigError, match="unknown backend"):
        load_scorer("perspective")


def test_lexicon_is_default_without_a_checkpoint():
    scorer = load_scorer()
    assert scorer.labels == CATEGORIES
    with pytest.raises(ScorerConfigError, match="takes no settings"):
        load_scorer("lexicon", config_dir="somewhere")


def test_profanity_backend_orders_captions_sensibly():
    scorer = load_scorer("profanity")
    assert scorer.labels == ("profanity",)
    texts = ["a cat on a sofa", "chicken breast on a grill", "you fucking idiot"]
    p = scorer.score(texts, batch_size=1)["profanity"]
    assert p.dtype == np.float32
    assert p[0] < 0.1 < p[1] < 0.5 < 0.99 < p[2]
    np.testing.assert_array_equal(p, scorer.score(texts)["profanity"])
    with pytest.raises(ValueError, match="batch_size"):
        scorer.score(texts, batch_size=0)
    assert scorer.score([], batch_size=8)["profanity"].shape == (0,)


def test_filter_mask_drops_any_label_strictly_over_its_threshold():
    scores = {
        "toxicity": np.array([0.1, 0.9, 0.5, 0.2], np.float32),
        "threat": np.array([0.0, 0.0, 0.0, 0.95], np.float32),
    }
    keep = filter_mask(scores, {"toxicity": 0.5, "threat": 0.9})
    np.testing.assert_array_equal(keep, [True, False, True, False])
    # Labels without a threshold are not used.
    np.testing.assert_array_equal(filter_mask(scores, {"toxicity": 0.5}), [True, False, True, True])
    np.testing.assert_array_equal(filter_mask(scores, default_thresholds(scores, 0.3)), [True, False, False, False])
    with pytest.raises(ScorerConfigError, match="obscene"):
        filter_mask(scores, {"obscene": 0.5})


def test_detoxify_labels_map_onto_categories(detoxify_scorer):
    raw = detoxify_scorer.score(CAPTIONS)
    categories = category_scores(raw)
    assert tuple(categories) == CATEGORIES == scorer_categories(detoxify_scorer.labels)
    np.testing.assert_array_equal(categories["sexual"], raw["sexual_explicit"])
    np.testing.assert_array_equal(categories["hate"], raw["identity_attack"])
    np.testing.assert_array_equal(categories["violence_graphic"], raw["threat"])
    profanity = np.max([raw[k] for k in ("obscene", "insult", "toxicity", "severe_toxicity")], axis=0)
    np.testing.assert_array_equal(categories["profanity"], profanity)
    both = with_categories(raw)
    assert set(both) == set(CATEGORIES) | set(UNBIASED_LABELS)
    # A category threshold and a raw-label threshold both drop.
    keep = filter_mask(both, {"sexual": float(raw["sexual_explicit"].min()), "toxicity": 1.0})
    assert keep.sum() == 1 and keep[int(np.argmin(raw["sexual_explicit"]))]


def test_original_detoxify_model_has_no_sexual_category(tmp_path):
    original = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    checkpoint, config_dir, _ = write_detoxify_fixture(tmp_path, labels=original)
    scorer = load_scorer("detoxify", checkpoint=checkpoint, config_dir=config_dir, device="cpu")
    assert scorer_categories(scorer.labels) == ("profanity", "hate", "violence_graphic")
    with pytest.raises(ScorerConfigError, match="sexual"):
        filter_mask(with_categories(scorer.score(["a cat"])), {"sexual": 0.5})


def test_drop_reasons_name_every_exceeded_threshold_and_matched_words():
    scores = {"sexual": np.array([0.92, 0.1, 0.7], np.float32), "profanity": np.array([0.95, 0.0, 0.2], np.float32)}
    matches = [[("sexual", "naked", 0.92), ("profanity", "fucking", 0.95)], [], [("sexual", "breasts", 0.7)]]
    reasons = drop_reasons(scores, {"sexual": 0.5, "profanity": 0.5}, matches)
    assert reasons == ["profanity 0.95 > 0.5 (fucking); sexual 0.92 > 0.5 (naked)", "", "sexual 0.70 > 0.5 (breasts)"]
    assert drop_reasons(scores, {"sexual": 0.8})[2] == ""


def test_calibrate_reports_precision_recall_and_suggests_the_highest_threshold_with_target_recall():
    sexual = np.array([0.95, 0.6, 0.3, 0.55, 0.1, 0.0, 0.2], np.float32)
    labels = ["sexual", "sexual", "sexual", "clean", "clean", "clean", "hate"]
    report = calibrate({"sexual": sexual, "hate": np.zeros(7, np.float32)}, labels, {"sexual": 0.5})
    entry = report["sexual"]
    assert (entry["positives"], entry["negatives"]) == (3, 3)
    # At 0.5: 2 of 3 explicit caught, 1 of 3 clean flagged.
    assert entry["recall"] == pytest.approx(2 / 3, abs=1e-4) and entry["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert entry["false_positive_rate"] == pytest.approx(1 / 3, abs=1e-4)
    # Recall 0.95 needs the 0.3 caption: the threshold must sit just below it.
    assert 0.29 <= entry["suggested_threshold"] < 0.3
    assert entry["suggested"]["recall"] == 1.0 and entry["suggested"]["false_positive_rate"] == pytest.approx(
        1 / 3, abs=1e-4
    )
    assert report["hate"]["positives"] == 1 and report["hate"]["recall"] == 0.0
    # With a lower target the suggestion rises and loses no clean caption.
    lenient = calibrate({"sexual": sexual}, labels, {}, target_recall=0.6)["sexual"]
    assert 0.59 <= lenient["suggested_threshold"] < 0.6 and lenient["suggested"]["false_positive_rate"] == 0.0
