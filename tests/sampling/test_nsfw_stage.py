"""The launch's filter stage with categories, its settings checks, and calibration on
labels people give (admin actions, CSV import, `manage.py nsfw_calibrate`)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from annotation.models import (
    Caption,
    CaptionSafetyLabel,
    Dataset,
    EmbeddingSpace,
    FilteredCaption,
    PipelineStage,
    Project,
)
from annotation.nsfw_calibration import LabelImportError, import_labels, report
from annotation.pipeline import artifacts, stages
from annotation.pipeline.validation import project_errors

pytestmark = pytest.mark.django_db

TEXTS = {
    "c-clean": "a rooster crows next to the hens",
    "c-food": "grilled chicken breasts on a plate",
    "c-nude": "a naked woman lying on a bed",
    "c-porn": "a screenshot from a porn video",
    "c-swear": "you fucking idiot",
    "c-gore": "a mutilated corpse in the street",
    "c-ball": "a boy shooting a basketball",
}


@pytest.fixture
def project(settings, tmp_path):
    settings.PAIRRATE_VAR_DIR = str(tmp_path)
    settings.PAIRRATE_DETOXIFY_CHECKPOINT = ""
    dataset = Dataset.objects.create(name="nsfwset")
    captions = [Caption.objects.create(dataset=dataset, external_id=k, text=t) for k, t in TEXTS.items()]
    space = EmbeddingSpace.objects.create(name="s", model_name="toy", dim=4, target_modality="image")
    project = Project.objects.create(name="nsfw", space=space, target_modality="image", sample_size=7, item_cap=3)
    project.caption_datasets.set([dataset])
    artifacts.save(project.id, "curate", caption_ids=np.array(sorted(c.id for c in captions), dtype=np.int64))
    return project


def ids(*external):
    return set(Caption.objects.filter(external_id__in=external).values_list("id", flat=True))


def test_filter_stage_drops_per_category_and_records_why(project):
    counts = stages.filter_captions(project, lambda fraction: None)
    assert counts["scored"] == 7 and counts["kept"] == 3 and counts["dropped"] == 4
    assert counts["dropped_by_category"] == {"sexual": 2, "profanity": 1, "hate": 0, "violence_graphic": 1}
    assert counts["thresholds"] == {"sexual": 0.5, "profanity": 0.5, "hate": 0.5, "violence_graphic": 0.5}
    kept = artifacts.load(project.id, "filter")
    assert set(kept["caption_ids"].tolist()) == ids("c-clean", "c-food", "c-ball")
    assert {k for k in kept if k.startswith("score_")} == {
        "score_sexual",
        "score_profanity",
        "score_hate",
        "score_violence_graphic",
    }
    rows = {r.caption.external_id: r for r in FilteredCaption.objects.filter(project=project).select_related("caption")}
    assert set(rows) == {"c-nude", "c-porn", "c-swear", "c-gore"}
    assert rows["c-nude"].reason == "sexual 0.92 > 0.5 (naked)"
    assert rows["c-porn"].reason.startswith("sexual 0.97 > 0.5 (porn")
    assert rows["c-gore"].reason.startswith("violence_graphic")
    assert set(rows["c-swear"].scores) == {"sexual", "profanity", "hate", "violence_graphic"}
    assert rows["c-swear"].scores["profanity"] > 0.9

    # Per-category thresholds: sexual switched off, profanity stricter; a rerun replaces the rows.
    project.nsfw_thresholds = {"sexual": 1}
    counts = stages.filter_captions(project, lambda fraction: None)
    assert counts["dropped"] == 2
    assert set(FilteredCaption.objects.filter(project=project).values_list("caption_id", flat=True)) == ids(
        "c-swear", "c-gore"
    )
    project.nsfw_backend = "none"
    stages.filter_captions(project, lambda fraction: None)
    assert not FilteredCaption.objects.filter(project=project).exists()


def test_nsfw_settings_are_checked_per_backend(settings):
    settings.PAIRRATE_DETOXIFY_CHECKPOINT = ""

    def errors(**fields):
        return project_errors(fields).get("nsfw_thresholds", []) + project_errors(fields).get("nsfw_backend", [])

    assert errors(nsfw_backend="lexicon", nsfw_thresholds={"sexual": 0.3, "hate": 1}) == []
    assert errors(nsfw_thresholds={"violence_graphic": 0.7}) == []  # auto = lexicon here
    assert "scores no 'toxicity'" in errors(nsfw_backend="lexicon", nsfw_thresholds={"toxicity": 0.5})[0]
    assert "scores no 'sexual'" in errors(nsfw_backend="profanity", nsfw_thresholds={"sexual": 0.5})[0]
    assert "between 0 and 1" in errors(nsfw_thresholds={"sexual": 1.5})[0]
    assert "between 0 and 1" in errors(nsfw_thresholds={"sexual": True})[0]
    assert "checkpoint" in errors(nsfw_backend="detoxify")[0]
    settings.PAIRRATE_DETOXIFY_CHECKPOINT = "/models/unbiased.ckpt"
    assert errors(nsfw_backend="detoxify", nsfw_thresholds={"sexual": 0.4, "toxicity": 0.8}) == []


def write_labels(tmp_path, rows, name="labels.csv"):
    path = tmp_path / name
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows(rows)
    return path


def test_label_import_checks_every_row_before_storing(project, tmp_path):
    good = [["dataset", "caption_id", "label"], ["nsfwset", "c-nude", "sexual"], ["nsfwset", "c-food", "clean"]]
    bad_label = write_labels(tmp_path, good + [["nsfwset", "c-ball", "rude"]])
    with pytest.raises(LabelImportError, match=r"labels.csv:4: column label: 'rude'"):
        import_labels(bad_label)
    unknown = write_labels(tmp_path, good + [["nsfwset", "nope", "clean"]])
    with pytest.raises(LabelImportError, match=r":4: column caption_id: no caption 'nope'"):
        import_labels(unknown)
    with pytest.raises(LabelImportError, match=r":1: missing column\(s\) label"):
        import_labels(write_labels(tmp_path, [["dataset", "caption_id"], ["nsfwset", "c-nude"]]))
    assert not CaptionSafetyLabel.objects.exists()
    assert import_labels(write_labels(tmp_path, good)) == 2
    assert dict(CaptionSafetyLabel.objects.values_list("caption__external_id", "label")) == {
        "c-nude": "sexual",
        "c-food": "clean",
    }


def test_calibration_command_reports_precision_recall_and_suggestions(project, tmp_path):
    labels = write_labels(
        tmp_path,
        [["dataset", "caption_id", "label"]]
        + [
            ["nsfwset", e, label]
            for e, label in [
                ("c-nude", "sexual"),
                ("c-porn", "sexual"),
                ("c-food", "clean"),
                ("c-clean", "clean"),
                ("c-ball", "clean"),
                ("c-swear", "profanity"),
            ]
        ],
    )
    out = io.StringIO()
    call_command("nsfw_calibrate", "--import", str(labels), stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "6 labelled captions, backend LexiconScorer" in text
    assert "sexual: 2 explicit / 3 clean labelled; at 0.5 precision 100%, recall 100%; suggested 0.919" in text
    result = report(project=project)
    assert result["categories"]["profanity"]["recall"] == 1.0
    with pytest.raises(CommandError, match="no project"):
        call_command("nsfw_calibrate", "--project", "999999")
    with pytest.raises(CommandError, match="column label"):
        call_command(
            "nsfw_calibrate",
            "--import",
            str(write_labels(tmp_path, [["dataset", "caption_id", "label"], ["nsfwset", "c-nude", "x"]], "b.csv")),
        )


def test_admin_labels_captions_reports_and_exports_filtered(project, admin_client):
    caption_ids = sorted(ids("c-nude", "c-porn"))
    response = admin_client.post(
        "/admin/annotation/caption/", {"action": "mark_sexual", "_selected_action": caption_ids}
    )
    assert response.status_code == 302
    admin_client.post(
        "/admin/annotation/caption/", {"action": "mark_clean", "_selected_action": sorted(ids("c-food", "c-ball"))}
    )
    assert CaptionSafetyLabel.objects.filter(label="sexual").count() == 2
    assert CaptionSafetyLabel.objects.filter(label="clean", labelled_by__username="admin").count() == 2
    response = admin_client.post(
        "/admin/annotation/captionsafetylabel/",
        {
            "action": "calibration_report",
            "_selected_action": list(CaptionSafetyLabel.objects.values_list("id", flat=True)),
        },
        follow=True,
    )
    # (the admin capitalises messages)
    assert "Sexual: 2 explicit / 2 clean labelled; at 0.5 precision 100%, recall 100%" in response.content.decode()

    stages.filter_captions(project, lambda fraction: None)
    PipelineStage.objects.create(project=project, name="filter", order=1)
    listing = admin_client.get("/admin/annotation/filteredcaption/")
    assert listing.status_code == 200 and "sexual 0.92 &gt; 0.5 (naked)" in listing.content.decode()
    selected = list(FilteredCaption.objects.values_list("id", flat=True))
    exported = admin_client.post(
        "/admin/annotation/filteredcaption/", {"action": "export_csv", "_selected_action": selected}
    )
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert {r["caption_id"] for r in rows} == {"c-nude", "c-porn", "c-swear", "c-gore"}
    assert {r["reason"] for r in rows if r["caption_id"] == "c-nude"} == {"sexual 0.92 > 0.5 (naked)"}


def test_export_filtered_command_writes_every_dropped_caption(project, tmp_path):
    stages.filter_captions(project, lambda fraction: None)
    target = tmp_path / "out" / "filtered.csv"
    call_command("export_filtered", "--project", str(project.id), "--output", str(target), stderr=io.StringIO())
    rows = list(csv.DictReader(target.open(newline="")))
    assert [r["caption_id"] for r in rows] == sorted(
        ["c-nude", "c-porn", "c-swear", "c-gore"], key=lambda e: Caption.objects.get(external_id=e).id
    )
    assert all(r["project"] == "nsfw" and r["dataset"] == "nsfwset" and r["reason"] for r in rows)
    out = io.StringIO()
    call_command("export_filtered", stdout=out, stderr=io.StringIO())
    assert out.getvalue().splitlines()[0] == "project,dataset,caption_id,caption,reason,scores"
    with pytest.raises(CommandError, match="no project"):
        call_command("export_filtered", "--project", "999999")
