"""The insights API on a launched, rated project: tables agree with the stored ratings,
downloads, admin only, bad parameters refused, drift flagged on a real rating history."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from rest_framework.test import APIClient

from annotation.models import PairResult
from tests.annotation.workflow_setup import make_user
from tests.insights.conftest import LABELS, honest, random_after, rate

pytestmark = pytest.mark.django_db


def admin_client():
    client = APIClient()
    client.force_authenticate(make_user("boss", staff=True))
    return client


@pytest.fixture
def rated(launched):
    project = launched("rated", audit_share=0.5)
    rate(project, {"ann1": honest, "ann2": honest})
    return project


def test_precision_tables_match_the_stored_results(rated):
    response = admin_client().get(f"/api/projects/{rated.pk}/insights/?n_boot=300")
    assert response.status_code == 200, response.content
    body = response.json()
    results = PairResult.objects.filter(project=rated)
    labels = list(results.values_list("label", flat=True))
    assert body["pairs"] == len(labels) == 180 and body["audit_pairs"] == 90
    rows = {(r["sample"], r["scope"], r["group"], r["label"]): r for r in body["precision"]}
    overall = rows[("rated", "overall", "all", "good")]
    assert overall["estimate"] == pytest.approx(labels.count("good") / len(labels), abs=1e-4)
    assert overall["low"] < overall["estimate"] < overall["high"] and overall["captions"] == 60
    either = rows[("rated", "overall", "all", "good_or_partial")]
    assert either["estimate"] == pytest.approx((labels.count("good") + labels.count("partial")) / len(labels), abs=1e-4)
    audit = list(results.filter(task__is_audit=True).values_list("candidate__retrieval_rank", "label"))
    audit_rank0 = [label for rank, label in audit if rank == 0]
    assert rows[("audit", "rank", "0", "good")]["pairs"] == len(audit_rank0)
    assert all(r["rests_on_audit"] == (r["sample"] == "audit") for r in body["precision"])
    assert rows[("rated", "modality_pair", "image->image", "good")]["pairs"] == 180
    bins = [
        r
        for r in body["precision"]
        if r["scope"] == "similarity_bin" and r["sample"] == "rated" and r["label"] == "good"
    ]
    assert sum(r["pairs"] for r in bins) == 180 and len(bins) >= 5
    # the truth rises with similarity (conftest): the top bin is better than the bottom one
    assert bins[-1]["estimate"] > bins[0]["estimate"]

    (calibration,) = body["calibration"]
    assert calibration["modality_pair"] == "image->image" and calibration["model"]["method"] == "logistic"
    assert calibration["model"]["similarity"] > 0
    assert sum(b["pairs"] for b in calibration["reliability"]) == 180
    threshold = calibration["threshold"]
    assert threshold["sample"] == "rated" and threshold["rests_on_audit"] is False  # 90 audit pairs < 100
    lows = [
        p
        for p in threshold["curve"]
        if threshold["recommended"] is not None and p["threshold"] == threshold["recommended"]
    ]
    assert threshold["recommended"] is None or lows[0]["lower"] >= threshold["target"]

    throughput = body["throughput"]
    assert throughput["remaining"] == 0 and throughput["eta_hours"] == 0
    assert sum(b["count"] for b in throughput["buckets"]) == 60
    slots = body["position_bias"]["slots"]
    assert [s["slot"] for s in slots] == [0, 1, 2] and sum(s["pairs"] for s in slots) == 180


def test_downloads_csv_and_json(rated):
    client = admin_client()
    response = client.get(f"/api/projects/{rated.pk}/insights/precision.csv?n_boot=100")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="project-{rated.pk}-precision.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {"sample", "scope", "group", "label", "estimate", "low", "high", "pairs", "captions"} <= set(rows[0])
    as_json = client.get(f"/api/projects/{rated.pk}/insights/precision.json?n_boot=100").json()
    assert len(as_json) == len(rows) and as_json[0]["group"] == rows[0]["group"]
    for table in ("calibration", "reliability", "thresholds", "drift_windows", "position_bias", "throughput"):
        response = client.get(f"/api/projects/{rated.pk}/insights/{table}.csv?n_boot=100")
        assert response.status_code == 200 and response.content.count(b"\n") >= 2, table
    # one annotator per task and no gold: nothing to test drift on, still a header row
    response = client.get(f"/api/projects/{rated.pk}/insights/drift_flags.csv?n_boot=100")
    assert response.content.decode().startswith("username,metric,suggest_pause,")
    assert client.get(f"/api/projects/{rated.pk}/insights/secrets.csv").status_code == 404
    assert client.get(f"/api/projects/{rated.pk}/insights/precision.xml").status_code == 404


def test_insights_are_for_admins_only_and_bad_parameters_are_refused(rated):
    annotator = APIClient()
    annotator.force_authenticate(make_user("ann9"))
    assert annotator.get(f"/api/projects/{rated.pk}/insights/").status_code == 403
    assert annotator.get(f"/api/projects/{rated.pk}/insights/precision.csv").status_code == 403
    assert APIClient().get(f"/api/projects/{rated.pk}/insights/").status_code in (401, 403)
    client = admin_client()
    for query, field in (
        ("target=1.5", "target"),
        ("n_boot=5", "n_boot"),
        ("label=great", "label"),
        ("method=spline", "method"),
        ("window_hours=0", "window_hours"),
    ):
        response = client.get(f"/api/projects/{rated.pk}/insights/?{query}")
        assert response.status_code == 400 and field in str(response.json()), (query, response.json())
    assert client.get("/api/projects/999999/insights/").status_code == 404


def test_schema_documents_the_insights_routes():
    client = admin_client()
    schema = client.get("/api/schema/?format=json").json()
    route = schema["paths"]["/api/projects/{id}/insights/"]["get"]
    assert {p["name"] for p in route["parameters"]} >= {"target", "label", "n_boot", "window_hours", "method"}
    assert "/api/projects/{id}/insights/{table}.{fmt}" in schema["paths"]
    assert "PrecisionRow" in schema["components"]["schemas"]


def test_an_annotator_who_turns_random_is_flagged_and_steady_ones_are_not(launched):
    """Three annotators per task; ann3 answers at random after their 15th task (45th
    rating). Agreement with consensus: ann3 is flagged within 40 ratings of the change."""
    project = launched("drifting", annotators_per_task=3)

    def mostly(task_index, true_label, rng):
        return true_label if rng.random() < 0.93 else str(rng.choice(LABELS))

    rate(project, {"ann1": mostly, "ann2": mostly, "ann3": random_after(15)}, seed=4)
    body = admin_client().get(f"/api/projects/{project.pk}/insights/?n_boot=100").json()
    drift = {a["username"]: a for a in body["drift"]["annotators"]}
    flags = drift["ann3"]["flags"]["agreement_with_consensus"]
    assert flags["flag_at"] is not None and 45 <= flags["flag_at"] <= 45 + 40, flags
    assert drift["ann3"]["suggest_pause"] is True and flags["flagged_at_time"] is not None
    for steady in ("ann1", "ann2"):
        assert drift[steady]["flags"]["agreement_with_consensus"]["flag_at"] is None
        assert drift[steady]["suggest_pause"] is False
    windows = [w for w in body["drift"]["windows"] if w["username"] == "ann3"]
    assert sum(w["ratings"] for w in windows) == 180
    assert windows[-1]["agreement_with_consensus"] < windows[0]["agreement_with_consensus"]
    assert all(w["median_seconds"] is not None and 4 <= w["median_seconds"] <= 8 for w in windows)
    assert np.isclose(sum(b["count"] for b in body["throughput"]["buckets"]), 180)


def test_small_and_empty_projects_get_empty_tables_not_errors():
    from annotation.rating import claim, submit
    from tests.annotation.workflow_setup import make_project

    project = make_project(n_tasks=2, candidates=3, per_task=1, name="tiny")
    client = admin_client()
    empty = client.get(f"/api/projects/{project.pk}/insights/?n_boot=100").json()
    assert empty["pairs"] == 0 and empty["precision"] == [] and empty["calibration"] == []
    assert empty["throughput"]["remaining"] == 2 and empty["throughput"]["eta_hours"] is None
    user = make_user("solo")
    from annotation.models import ProjectMember

    ProjectMember.objects.create(project=project, user=user)
    assignment = claim.next_assignment(project, user)
    candidates = list(assignment.task.candidates.order_by("slot").values_list("pk", flat=True))
    submit.submit(assignment.pk, user, submit.Submission({c: "good" for c in candidates}, [], 3.0))
    body = client.get(f"/api/projects/{project.pk}/insights/?n_boot=100").json()
    assert body["pairs"] == 3
    overall = [r for r in body["precision"] if r["scope"] == "overall" and r["label"] == "good"]
    assert overall[0]["estimate"] == 1.0 and overall[0]["captions"] == 1
    assert body["calibration"][0]["model"] == {"method": "constant", "p": 1.0}
    assert body["calibration"][0]["threshold"]["recommended"] is None  # 3 pairs: under the 20 a threshold needs
    assert body["throughput"]["remaining"] == 1
    for table in ("precision", "calibration", "reliability", "thresholds", "drift_windows", "throughput"):
        assert client.get(f"/api/projects/{project.pk}/insights/{table}.csv?n_boot=100").status_code == 200
