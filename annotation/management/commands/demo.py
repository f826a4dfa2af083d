"""`python manage.py demo`: build and import the demo dataset, create demo logins.

Re-running is cheap and safe: the bundle is built once, the import upserts, users
are created only when missing.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from annotation.demo.build import build_demo_bundle
from annotation.importing import import_bundle
from annotation.progress import TqdmProgress

DEMO_USERS = [("admin", "admin-demo", True)] + [(f"annotator{i}", "annotator-demo", False) for i in (1, 2, 3)]


class Command(BaseCommand):
    help = "Build and import the demo dataset and create the demo users."

    def add_arguments(self, parser):
        parser.add_argument("--no-input", action="store_true", help="never prompt")
        parser.add_argument("--rebuild", action="store_true", help="rebuild the bundle from its sources")
        parser.add_argument("--audiocaps", type=int, default=1500, help="AudioCaps captions to include")

    def handle(self, *args, **options):
        bundle = Path(settings.VAR_DIR) / "demo-bundle"
        if options["rebuild"] or not (bundle / "pairrate.json").is_file():
            self.stderr.write("building the demo bundle (embeds every caption with all-MiniLM-L6-v2)...")
            build_demo_bundle(bundle, options["audiocaps"])
        progress = TqdmProgress(self.stderr._out)
        summary = import_bundle(bundle, progress=progress)
        progress.close()
        self.stdout.write(f"imported {summary.items} items and {summary.captions} captions "
                          f"into dataset {summary.dataset!r}")
        for username, password, staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": staff, "is_superuser": staff})
            if created:
                user.set_password(password)
                user.save()
        self.stdout.write("logins: " + ", ".join(f"{u} / {p}" for u, p, _ in DEMO_USERS))
