"""`python manage.py export_filtered [--project ID ...] [--output filtered.csv]`."""

from __future__ import annotations

import io
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.export.writer import atomic_file
from annotation.models import FilteredCaption, Project
from annotation.nsfw_calibration import write_filtered_csv


class Command(BaseCommand):
    help = (
        "Export the captions the launch's NSFW filter dropped, with their category scores and "
        "reason, as CSV (project, dataset, caption_id, caption, reason, scores)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, action="append", help="project id (repeatable; default all)")
        parser.add_argument("--output", help="CSV file to write (default: standard output)")

    def handle(self, *args, **options):
        rows = FilteredCaption.objects.all()
        if options["project"]:
            missing = set(options["project"]) - set(
                Project.objects.filter(pk__in=options["project"]).values_list("pk", flat=True)
            )
            if missing:
                raise CommandError(f"no project {sorted(missing)}")
            rows = rows.filter(project_id__in=options["project"])
        if not options["output"]:
            buffer = io.StringIO()
            count = write_filtered_csv(buffer, rows)
            self.stdout.write(buffer.getvalue(), ending="")
        else:
            with atomic_file(Path(options["output"])) as temp, temp.open("w", newline="", encoding="utf-8") as out:
                count = write_filtered_csv(out, rows)
        self.stderr.write(f"{count} filtered captions exported")
