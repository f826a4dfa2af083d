"""The default NSFW backend on the evaluation set in tests/data/nsfw (see its README):
explicit captions written for this test, clean captions full of traps, and every real
COCO and AudioCaps caption shipped in ../shared/data as clean."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from sampling import nsfw_lexicon
from sampling.nsfw import CATEGORIES, DEFAULT_THRESHOLD, load_scorer

DATA = Path(__file__).resolve().parents[1] / "data" / "nsfw"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def lines(name: str) -> list[str]:
    return [line for line in (DATA / f"{name}.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


def real_captions() -> list[str]:
    coco = SHARED / "coco-val2017-mini" / "captions.jsonl"
    audiocaps = sorted((SHARED / "audiocaps").glob("*.csv"))
    if not coco.is_file() or not audiocaps:
        pytest.skip(f"real captions not found under {SHARED}")
    texts = [c for line in coco.read_text().splitlines() if line.strip() for c in json.loads(line)["captions"]]
    for path in audiocaps:
        with path.open(newline="", encoding="utf-8") as f:
            texts += [row["caption"] for row in csv.DictReader(f)]
    return texts


@pytest.fixture(scope="module")
def scorer():
    return load_scorer()


def flagged(scorer, texts, category=None) -> np.ndarray:
    scores = scorer.score(texts)
    if category is not None:
        return scores[category] > DEFAULT_THRESHOLD
    return np.max([scores[c] for c in CATEGORIES], axis=0) > DEFAULT_THRESHOLD


def test_evaluation_set_is_as_large_as_promised():
    explicit = lines("sexual_dev") + lines("sexual_heldout") + lines("explicit_templated")
    clean = lines("clean_traps") + lines("clean_templated")
    assert len(set(explicit)) >= 300 and len(set(clean)) >= 300
    assert len(lines("sexual_heldout")) >= 100
    assert not set(explicit) & set(clean)


@pytest.mark.parametrize("name", ["sexual_dev", "explicit_templated", "sexual_heldout"])
def test_sexual_recall_at_least_95_percent(scorer, name):
    texts = lines(name)
    hit = flagged(scorer, texts, "sexual")
    missed = [t for t, h in zip(texts, hit) if not h]
    assert hit.mean() >= 0.95, missed


def test_sexual_recall_on_captions_without_swear_words(scorer):
    swearing = {"fuck", "fucking", "cock", "dick", "pussy", "tits", "boobs", "cunt", "shit"}
    texts = [
        t
        for name in ("sexual_dev", "sexual_heldout")
        for t in lines(name)
        if swearing.isdisjoint(t.lower().replace("'", " ").split())
    ]
    assert len(texts) >= 180
    assert flagged(scorer, texts, "sexual").mean() >= 0.95


def test_real_clean_captions_flagged_at_most_0_3_percent(scorer):
    texts = real_captions()
    assert len(texts) >= 7000
    hit = flagged(scorer, texts)
    assert hit.mean() <= 0.003, [t for t, h in zip(texts, hit) if h][:20]


def test_trap_captions_mostly_kept(scorer):
    texts = lines("clean_traps") + lines("clean_templated")
    hit = flagged(scorer, texts)
    assert hit.mean() <= 0.02, [t for t, h in zip(texts, hit) if h]


@pytest.mark.parametrize(
    "name,category", [("profanity", "profanity"), ("hate", "hate"), ("violence", "violence_graphic")]
)
def test_other_categories_catch_their_set(scorer, name, category):
    texts = lines(name)
    assert flagged(scorer, texts, category).mean() >= 0.9


@pytest.mark.parametrize(
    "text,category",
    [
        ("a naked woman on a bed", "sexual"),
        ("a couple having sex", "sexual"),
        ("s3x video", "sexual"),
        ("a p0rn site", "sexual"),
        ("p o r n clip", "sexual"),
        ("she is sucking his cock", "sexual"),
        ("a man humping a woman", "sexual"),
        ("f*ck this", "profanity"),
        ("fuuuuck", "profanity"),
        ("sh!t happens", "profanity"),
        ("a woman's breasts exposed", "sexual"),
        ("a body covered in blood", "violence_graphic"),
    ],
)
def test_explicit_words_in_context_and_in_disguise(scorer, text, category):
    assert scorer.score([text])[category][0] > DEFAULT_THRESHOLD


@pytest.mark.parametrize(
    "text",
    [
        "grilled chicken breasts",
        "a cock crows at dawn",
        "shooting a basketball",
        "a naked mole rat",
        "the nipple of a baby bottle",
        "a baby's pacifier",
        "a sex education class",
        "two frogs mating",
        "a dog humping a pillow",
        "nude colored heels",
        "summa cum laude",
        "a blue tit at the feeder",
        "blue-footed boobies",
        "a blood orange",
        "yoga corpse pose",
        "make love not war banner",
        "a vacuum cleaner sucks up dust",
        "a rooster and hens; the cock crowing",
        "the sex of the chicks",
        "a weapon cocks and fires",
        "a strip mall",
        "a kick-ass trick",
        "it is hard on the knees",
        "strap on a helmet",
        # found on general English text: markdown bold, hex digits read as leetspeak, statistics, self-boosting insults
        "**Do not** open it",
        "fingerprint A21F B008 8AA3",
        "baseline variables: age, sex, body mass index",
        "the dumb http transport",
        "fixed a stupid compilation error",
    ],
)
def test_trap_words_stay_clean(scorer, text):
    scores = scorer.score([text])
    assert max(float(scores[c][0]) for c in CATEGORIES) <= DEFAULT_THRESHOLD, nsfw_lexicon.explain([text])


def test_scores_do_not_depend_on_batching_or_neighbours(scorer):
    texts = lines("sexual_dev")[:50] + lines("clean_traps")[:50]
    whole = scorer.score(texts)
    pieces = scorer.score(texts[::-1], batch_size=7)
    for c in CATEGORIES:
        np.testing.assert_array_equal(whole[c], pieces[c][::-1])
        assert whole[c].dtype == np.float32 and ((whole[c] >= 0) & (whole[c] <= 1)).all()
    assert scorer.score([])["sexual"].shape == (0,)
    assert scorer.score(["line one\nline two naked"])["sexual"].shape == (1,)


def test_explain_names_the_matched_words(scorer):
    reasons = scorer.explain(["a naked woman", "a cat on a sofa"])
    assert reasons[0] == [("sexual", "naked", pytest.approx(0.92))] and reasons[1] == []
