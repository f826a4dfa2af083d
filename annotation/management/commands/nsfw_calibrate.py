"""`python manage.py nsfw_calibrate [--import labels.csv] [--project ID] [--target-recall 0.95]`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from annotation.nsfw_calibration import LabelImportError, import_labels, report, summary_lines


class Command(BaseCommand):
    help = (
        "Report the caption filter's precision/recall per category on captions people labelled "
        "(CaptionSafetyLabel) and suggest per-category thresholds; --import adds labels from a CSV "
        "with columns dataset, caption_id, label (clean, sexual, profanity, hate, violence_graphic)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--import", dest="import_path", help="CSV of labels to store first")
        parser.add_argument("--project", type=int, help="use this project's backend and thresholds")
        parser.add_argument(
            "--target-recall",
            type=float,
            default=0.95,
            help="suggest the highest threshold reaching this recall (default 0.95)",
        )
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")

    def handle(self, *args, **options):
        if not 0.0 < options["target_recall"] <= 1.0:
            raise CommandError("--target-recall must be in (0, 1]")
        project = None
        if options["project"] is not None:
            project = Project.objects.filter(pk=options["project"]).first()
            if project is None:
                raise CommandError(f"no project {options['project']}")
        if options["import_path"]:
            try:
                count = import_labels(options["import_path"])
            except LabelImportError as exc:
                raise CommandError(str(exc)) from exc
            self.stderr.write(f"{count} labels imported")
        result = report(project=project, target_recall=options["target_recall"])
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(f"{result['labelled']} labelled captions, backend {result['backend']}")
            for line in summary_lines(result):
                self.stdout.write(line)
