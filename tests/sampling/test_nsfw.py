"""Caption scorers: a tiny Detoxify-format checkpoint built here, and alt-profanity-check."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sampling.nsfw import ScorerConfigError, default_thresholds, filter_mask, load_scorer

UNBIASED_LABELS = ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
                   "sexual_explicit"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "cat", "on", "the", "sofa", "you", "idiot",
         "grill", "chicken", "dog", "runs", "in", "park", "##s"]
CAPTIONS = ["a cat on the sofa", "you idiot", "the dog runs in the park", "chicken on the grill",
            "", "a cat " * 400]


def write_detoxify_fixture(root, labels=UNBIASED_LABELS, with_vocab=True, seed=0):
    """A random small BERT saved the way Detoxify ships models -> (checkpoint, config_dir, state_dict)."""
    from transformers import BertConfig, BertForSequenceClassification

    config_dir = root / "hf"
    config_dir.mkdir(parents=True, exist_ok=True)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=len(labels))
    config.save_pretrained(config_dir)
    if with_vocab:
        (config_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    torch.manual_seed(seed)
    state_dict = BertForSequenceClassification(config).state_dict()
    checkpoint = root / "toxic.ckpt"
    torch.save({
        "config": {
            "arch": {"args": {"model_type": "bert-base-uncased", "model_name": "BertForSequenceClassification",
                              "tokenizer_name": "BertTokenizer", "num_classes": len(labels)}},
            "dataset": {"args": {"classes": list(labels)}},
        },
        "state_dict": state_dict,
    }, checkpoint)
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


def test_profanity_is_default_and_orders_captions_sensibly():
    scorer = load_scorer()
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
    scores = {"toxicity": np.array([0.1, 0.9, 0.5, 0.2], np.float32),
              "threat": np.array([0.0, 0.0, 0.0, 0.95], np.float32)}
    keep = filter_mask(scores, {"toxicity": 0.5, "threat": 0.9})
    np.testing.assert_array_equal(keep, [True, False, True, False])
    # Labels without a threshold are not used.
    np.testing.assert_array_equal(filter_mask(scores, {"toxicity": 0.5}), [True, False, True, True])
    np.testing.assert_array_equal(filter_mask(scores, default_thresholds(scores, 0.3)),
                                  [True, False, False, False])
    with pytest.raises(ScorerConfigError, match="obscene"):
        filter_mask(scores, {"obscene": 0.5})
