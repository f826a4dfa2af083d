"""`python manage.py export_ratings --project ID [--project ID ...] --format FMT [filters]`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import Error as DatabaseError

from annotation import storage
from annotation.export import FORMATS, ExportRequestError, create_run, execute_run
from annotation.export.filters import GOLD_CHOICES, STATES
from annotation.export.writer import atomic_file
from annotation.models import Label
from annotation.progress import TqdmProgress


class Command(BaseCommand):
    help = "Export rated pairs of one or more projects (recorded as an ExportRun; see docs/formats.md)."

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, action="append", required=True, help="project id (repeatable)")
        parser.add_argument("--format", required=True, choices=list(FORMATS))
        parser.add_argument("--label", action="append", choices=Label.values, help="consensus label (repeatable)")
        parser.add_argument("--state", action="append", choices=list(STATES), help="consensus state (repeatable)")
        parser.add_argument("--modality-pair", action="append", help="e.g. audio->point_cloud (repeatable)")
        parser.add_argument("--source-dataset", action="append", help="caption or item source (repeatable)")
        parser.add_argument("--date-from", help="ISO date or datetime of the consensus")
        parser.add_argument("--date-to", help="ISO date (whole day included) or datetime")
        parser.add_argument("--min-agreement", type=float)
        parser.add_argument("--max-agreement", type=float)
        parser.add_argument("--gold", choices=GOLD_CHOICES)
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="format option, e.g. partial=positive or class_key=category",
        )
        parser.add_argument("--output", help="also copy the finished file here")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        filters = {
            key: options[name]
            for key, name in (
                ("labels", "label"),
                ("states", "state"),
                ("modality_pairs", "modality_pair"),
                ("source_datasets", "source_dataset"),
                ("date_from", "date_from"),
                ("date_to", "date_to"),
                ("min_agreement", "min_agreement"),
                ("max_agreement", "max_agreement"),
                ("gold", "gold"),
            )
            if options[name] is not None
        }
        format_options = dict(_key_value(o) for o in options["option"])
        try:
            run = create_run(options["project"], options["format"], filters, format_options)
        except ExportRequestError as exc:
            raise CommandError(str(exc)) from None
        except DatabaseError as exc:
            raise CommandError(f"the database is unreachable: {_first_line(exc)}") from None
        progress = None if options["no_progress"] else TqdmProgress(self.stderr._out)
        try:
            run = execute_run(run.pk, progress)
        except Exception as exc:  # recorded on the run (failed, retry-able); one clear line here
            raise CommandError(
                f"export {run.pk} failed: {type(exc).__name__}: {_first_line(exc)} "
                f"(the run is recorded as failed; run the command again to retry)"
            ) from None
        finally:
            if progress:
                progress.close()
        if run.state != run.State.SUCCEEDED:
            raise CommandError(f"export {run.pk} failed: {run.error}")
        if options["output"]:
            from pathlib import Path

            with atomic_file(Path(options["output"]).resolve()) as temp:
                storage.fetch(run.file_path, temp)  # a copy, or a download past the cache
        where = run.file_path if storage.is_object_store() else str(run.absolute_path)
        self.stdout.write(
            json.dumps(
                {"id": run.pk, "rows": run.row_count, "path": where, "sha256": run.sha256, "bytes": run.size_bytes}
            )
        )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"--option {text!r}: write KEY=VALUE")
    return key, value
