"""`python manage.py import_dataset BUNDLE_DIR [--dataset NAME] [--media local|remote]`."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from annotation.importing import BundleError, import_bundle
from annotation.progress import TqdmProgress


class Command(BaseCommand):
    help = "Import a pairrate bundle or an E-MM1 release folder (all or nothing; see docs/formats.md)."

    def add_arguments(self, parser):
        parser.add_argument("bundle", help="bundle directory (pairrate.json or infos/)")
        parser.add_argument("--dataset", help="dataset name (default: from the manifest)")
        parser.add_argument("--media", choices=["local", "remote"],
                            help="local: copy media from the bundle; remote: keep paths/URLs as given")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        progress = None if options["no_progress"] else TqdmProgress(self.stderr._out)
        try:
            summary = import_bundle(options["bundle"], options["dataset"], options["media"], progress)
        except BundleError as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(f"import failed, nothing was changed ({len(exc.errors)} error(s))") from exc
        finally:
            if progress:
                progress.close()
        self.stdout.write(json.dumps(summary.as_dict()))
