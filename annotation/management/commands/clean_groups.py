"""`python manage.py clean_groups BUILD --project ID [--project ID ...]`: keep a groups
build's pairs at or above each target modality's recommended threshold (from a rated
project of that modality) and write them with predicted P(good) into
groups/<BUILD>/cleaned/ (docs/statistics.md), in this process, through the same run
record as the API's background job. Prints the kept counts per modality."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotation.insights import cleaning, cleaning_runs, report
from annotation.models import GroupsBuild, Project


class Command(BaseCommand):
    help = "Clean a groups build with the thresholds of rated projects (one per target modality)."

    def add_arguments(self, parser):
        parser.add_argument("build", type=int)
        parser.add_argument("--project", type=int, action="append", default=[], dest="projects", required=True)
        parser.add_argument("--target", type=float, default=0.8, help="precision the lower bound must meet")
        parser.add_argument("--label", default="good", choices=list(report.LABELS))
        parser.add_argument("--n-boot", type=int, default=1000)

    def handle(self, *args, **options):
        build = GroupsBuild.objects.filter(pk=options["build"]).first()
        if build is None:
            raise CommandError(f"no groups build {options['build']}")
        projects = list(Project.objects.filter(pk__in=options["projects"]))
        missing = sorted(set(options["projects"]) - {p.pk for p in projects})
        if missing:
            raise CommandError(f"no project {', '.join(map(str, missing))}")
        if not 0 < options["target"] < 1:
            raise CommandError("--target must be between 0 and 1")
        try:
            run = cleaning_runs.start(
                build, projects, options["target"], options["label"], options["n_boot"], queue=False
            )
        except cleaning.CleaningError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())) from exc
        except cleaning_runs.CleaningBusy as exc:
            raise CommandError(str(exc)) from exc
        run = cleaning_runs.execute(build.pk, run["token"])
        if run["state"] != "succeeded":
            raise CommandError(run["error"] or f"cleaning ended {run['state']}")
        manifest = run["manifest"]
        for modality, m in manifest["modalities"].items():
            threshold = "none meets the target" if m["threshold"] is None else f"similarity >= {m['threshold']:.4f}"
            self.stdout.write(
                f"{modality}: {threshold} (project {m['project_name']!r}, {m['sample']} pairs); "
                f"kept {m['pairs_kept']} of {m['pairs_total']} pairs, "
                f"{m['captions_kept']} of {m['captions_total']} captions"
            )
        if manifest["left_out"]:
            self.stdout.write(f"left out (no project): {', '.join(manifest['left_out'])}")
        self.stdout.write(f"written to groups/{build.pk}/cleaned/ ({len(manifest['files'])} files)")
