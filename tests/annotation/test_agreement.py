"""Agreement figures against known values and the krippendorff package."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from annotation.rating.agreement import counts_matrix, fleiss_kappa, krippendorff_alpha, raw_agreement, summary
from tests.annotation.workflow_setup import client_for, join, make_project, next_task, rate_all

# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
WIKIPEDIA = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def test_fleiss_kappa_textbook_example():
    assert fleiss_kappa(WIKIPEDIA) == pytest.approx(0.20993, abs=1e-5)
    assert raw_agreement(WIKIPEDIA) == pytest.approx(0.37802, abs=1e-5)  # P-bar in the worked example


@pytest.mark.parametrize("level", ["ordinal", "nominal", "interval"])
def test_krippendorff_matches_the_package(level):
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 3, size=200)
    data = np.where(rng.random((4, 200)) < 0.7, truth, rng.integers(0, 3, size=(4, 200))).astype(float)
    data[rng.random(data.shape) < 0.25] = np.nan  # missing ratings, some units with one rating
    counts = np.stack([(data == k).sum(axis=0) for k in range(3)], axis=1)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=[0, 1, 2])
    assert krippendorff_alpha(counts, level) == pytest.approx(expected, abs=1e-9)


def test_ordinal_penalises_far_disagreement_more():
    near = counts_matrix([["good", "good", "partial"], ["bad", "bad", "bad"], ["good", "good", "good"]])
    far = counts_matrix([["good", "good", "bad"], ["partial", "partial", "partial"], ["good", "good", "good"]])
    assert krippendorff_alpha(near) > krippendorff_alpha(far)
    assert krippendorff_alpha(near, "nominal") == pytest.approx(krippendorff_alpha(far, "nominal"))


def test_perfect_agreement_and_nothing_to_measure():
    perfect = counts_matrix([["good"] * 3, ["bad"] * 3, ["partial"] * 3])
    assert (raw_agreement(perfect), fleiss_kappa(perfect), krippendorff_alpha(perfect)) == (1.0, 1.0, 1.0)
    lonely = counts_matrix([["good"], ["bad"]])
    assert summary(lonely) == {"units": 0, "raw_agreement": None, "fleiss_kappa": None, "krippendorff_alpha": None}


@pytest.mark.django_db
def test_project_stats(annotators, admin):
    project = make_project(n_tasks=2, candidates=2, consensus_rule="majority")
    join(project, *annotators[:3])
    labels = {0: ["good", "bad"], 1: ["good", "bad"], 2: ["good", "partial"]}
    for _ in range(2):
        for i, user in enumerate(annotators[:3]):
            client = client_for(user)
            payload = next_task(client, project).json()
            rate_all(client, payload, labels[i], seconds=10 * (i + 1))
    body = client_for(admin).get(f"/api/projects/{project.pk}/stats/").json()
    assert body["progress"]["tasks"] == 2 and body["progress"]["complete"] == 2
    assert body["progress"]["assignments"]["submitted"] == 6
    pair = body["labels"]["text->image"]
    assert pair["ratings"] == {"good": 6, "bad": 4, "partial": 2}
    assert pair["results"] == {"agreed:good": 2, "agreed:bad": 2}
    expected = counts_matrix([["good"] * 3, ["bad", "bad", "partial"]] * 2)
    assert body["agreement"]["overall"]["fleiss_kappa"] == pytest.approx(fleiss_kappa(expected))
    assert body["agreement"]["by_modality_pair"]["text->image"]["krippendorff_alpha"] == pytest.approx(
        krippendorff_alpha(expected)
    )
    people = {row["username"]: row for row in body["annotators"]}
    assert people["ann0"]["tasks_submitted"] == 2 and people["ann2"]["median_seconds"] == 30
    assert people["ann0"]["agreement_with_consensus"] == 1.0
    assert people["ann2"]["agreement_with_consensus"] == 0.5
