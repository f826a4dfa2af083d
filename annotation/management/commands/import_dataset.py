"""`python manage.py import_dataset BUNDLE [--dataset NAME] [--media local|remote]`.

BUNDLE is a bundle folder (pairrate.json, or an E-MM1 infos/ folder with its embeddings) or
a .zip/.tar/.tar.gz of one, unpacked within the archive limits into a temporary folder."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.importing import BundleError, import_bundle
from annotation.importing.archives import ArchiveError, archive_stem, extract_archive, is_archive
from annotation.progress import TqdmProgress


class Command(BaseCommand):
    help = "Import a pairrate bundle or an E-MM1 release folder (all or nothing; see docs/formats.md)."

    def add_arguments(self, parser):
        parser.add_argument("bundle", help="bundle directory (pairrate.json or infos/) or an archive of one")
        parser.add_argument("--dataset", help="dataset name (default: from the manifest)")
        parser.add_argument(
            "--media",
            choices=["local", "remote"],
            help="local: copy media from the bundle; remote: keep paths/URLs as given",
        )
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--no-screen",
            action="store_true",
            help="do not screen the media afterwards (default: PAIRRATE_SCREEN_AFTER_IMPORT)",
        )

    def handle(self, *args, **options):
        source, scratch = Path(options["bundle"]), None
        if source.is_file() and is_archive(source.name):
            scratch = Path(tempfile.mkdtemp(prefix="pairrate-import-"))
            try:
                source = extract_archive(source, scratch / archive_stem(source.name))
            except ArchiveError as exc:
                shutil.rmtree(scratch, ignore_errors=True)
                raise CommandError(f"{source.name}: {exc}") from None
        progress = None if options["no_progress"] else TqdmProgress(self.stderr._out)
        try:
            summary = import_bundle(source, options["dataset"], options["media"], progress)
        except BundleError as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(f"import failed, nothing was changed ({len(exc.errors)} error(s))") from exc
        finally:
            if progress:
                progress.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        self.stdout.write(json.dumps(summary.as_dict()))
        if settings.PAIRRATE_SCREEN_AFTER_IMPORT and not options["no_screen"]:
            self._screen(summary.dataset)

    def _screen(self, dataset_name: str) -> None:
        """Screen the imported media as an API import does: on the cpu workers when a broker is
        configured (the run shows progress in the admin), else here, in this process. Reported
        on stderr: stdout stays the import summary's one JSON line."""
        from annotation.models import Dataset
        from annotation.screening import runs as screening

        dataset = Dataset.objects.get(name=dataset_name)
        if settings.CELERY_TASK_ALWAYS_EAGER:
            run = screening.run_here(screening.start(dataset, queue=False))
            self.stderr.write(f"media screening {run.pk}: {json.dumps(run.counts)}")
        else:
            run = screening.start(dataset)
            self.stderr.write(f"media screening {run.pk} queued on the cpu workers (manage.py screen_media to watch)")
