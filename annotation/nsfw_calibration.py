"""Calibrating the caption filter on the project's own data, and exporting what it dropped.

People label captions clean or explicit in one category (`CaptionSafetyLabel`: in the
admin, or imported from a CSV with `import_labels`); `report` scores those captions
with the configured backend and gives precision/recall per category at the current
thresholds and a suggested threshold (`sampling.nsfw.calibrate`).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TextIO

from django.db import transaction

from sampling import nsfw

from .models import Caption, CaptionSafetyLabel, Dataset, FilteredCaption, Project
from .models.nsfw import LABEL_CHOICES

LABELS = tuple(value for value, _ in LABEL_CHOICES)
CSV_COLUMNS = ("dataset", "caption_id", "label")


class LabelImportError(ValueError):
    """A labels file that cannot be imported; nothing was stored."""


def import_labels(path: str | Path, user=None) -> int:
    """Store labels from a CSV with columns dataset, caption_id (the caption's external
    id) and label (clean or a category). All rows are checked before any is stored;
    the first bad row raises `LabelImportError` naming file, line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelImportError(f"{path}: cannot read ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise LabelImportError(f"{path}:1: missing column(s) {', '.join(missing)}; need {', '.join(CSV_COLUMNS)}")
    datasets = dict(Dataset.objects.values_list("name", "id"))
    rows: dict[tuple[int, str], tuple[str, int]] = {}
    for row in reader:
        line = reader.line_num
        dataset, external_id, label = (str(row.get(c) or "").strip() for c in CSV_COLUMNS)
        if dataset not in datasets:
            raise LabelImportError(f"{path}:{line}: column dataset: no dataset {dataset!r}")
        if label not in LABELS:
            raise LabelImportError(f"{path}:{line}: column label: {label!r} is not one of {', '.join(LABELS)}")
        rows[(datasets[dataset], external_id)] = (label, line)
    captions = {}
    for dataset_id in {d for d, _ in rows}:
        wanted = [e for d, e in rows if d == dataset_id]
        captions.update(
            {
                (dataset_id, e): pk
                for e, pk in Caption.objects.filter(dataset_id=dataset_id, external_id__in=wanted).values_list(
                    "external_id", "id"
                )
            }
        )
    for key, (_, line) in rows.items():
        if key not in captions:
            raise LabelImportError(f"{path}:{line}: column caption_id: no caption {key[1]!r} in that dataset")
    with transaction.atomic():
        for key, (label, _) in rows.items():
            CaptionSafetyLabel.objects.update_or_create(
                caption_id=captions[key], defaults={"label": label, "labelled_by": user}
            )
    return len(rows)


def report(labels=None, project: Project | None = None, target_recall: float = 0.95) -> dict:
    """Precision/recall per category on the labelled captions (`labels`: a
    CaptionSafetyLabel queryset, default all) with `project`'s backend and thresholds
    (default: the default backend and thresholds), plus suggested thresholds."""
    from .pipeline.stages import filter_thresholds, scorer_for

    rows = list(
        (labels if labels is not None else CaptionSafetyLabel.objects.all()).values_list("caption__text", "label")
    )
    backend = project.nsfw_backend if project is not None and project.nsfw_backend != "none" else "auto"
    scorer = scorer_for(backend)
    thresholds = filter_thresholds(scorer, project.nsfw_thresholds if project is not None else {})
    if not rows:
        return {"labelled": 0, "backend": type(scorer).__name__, "categories": {}}
    texts, truth = zip(*rows)
    scores = nsfw.with_categories(scorer.score(list(texts)))
    return {
        "labelled": len(rows),
        "backend": type(scorer).__name__,
        "categories": nsfw.calibrate(scores, list(truth), thresholds, target_recall=target_recall),
    }


def summary_lines(result: dict) -> list[str]:
    """One readable line per category, for the admin's message."""
    lines = []
    for category, entry in result["categories"].items():

        def pct(value):
            return "-" if value is None else f"{value:.0%}"

        line = (
            f"{category}: {entry['positives']} explicit / {entry['negatives']} clean labelled; "
            f"at {entry['threshold']:g} precision {pct(entry['precision'])}, recall {pct(entry['recall'])}"
        )
        if "suggested_threshold" in entry:
            s = entry["suggested"]
            line += (
                f"; suggested {entry['suggested_threshold']:g} (precision {pct(s['precision'])}, "
                f"recall {pct(s['recall'])}, clean flagged {pct(s['false_positive_rate'])})"
            )
        lines.append(line)
    return lines or ["no labelled captions"]


FILTERED_COLUMNS = ("project", "dataset", "caption_id", "caption", "reason", "scores")


def write_filtered_csv(out: TextIO, queryset=None) -> int:
    """The captions the filter stage dropped (`queryset`: FilteredCaption rows, default all)
    as CSV: project, dataset, caption_id (external id), caption, reason, scores (JSON)."""
    rows = queryset if queryset is not None else FilteredCaption.objects.all()
    rows = rows.select_related("project", "caption__dataset").order_by("project_id", "caption_id")
    writer = csv.writer(out)
    writer.writerow(FILTERED_COLUMNS)
    count = 0
    for row in rows.iterator():
        writer.writerow(
            [
                row.project.name,
                row.caption.dataset.name,
                row.caption.external_id,
                row.caption.text,
                row.reason,
                json.dumps(row.scores, sort_keys=True),
            ]
        )
        count += 1
    return count
