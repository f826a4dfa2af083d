"""`python manage.py launch_project PROJECT` (id or name): start, watch, or retry a launch."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Project
from annotation.pipeline import runner


class Command(BaseCommand):
    help = "Launch a rating project's pipeline and show its progress until it is ready."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("--retry", action="store_true", help="retry the failed stage instead")
        parser.add_argument("--no-wait", action="store_true", help="return once the launch is queued")

    def handle(self, *args, **options):
        key = options["project"]
        project = Project.objects.filter(**({"pk": int(key)} if key.isdigit() else {"name": key})).first()
        if project is None:
            raise CommandError(f"no project {key!r}")
        try:
            runner.retry(project.pk) if options["retry"] else runner.launch(project.pk)
        except runner.LaunchError as exc:
            details = "".join(f"\n  {field}: {'; '.join(msgs)}" for field, msgs in exc.fields.items())
            raise CommandError(f"{exc.message} [{exc.code}]{details}") from exc
        if not options["no_wait"]:
            self._watch(project)

    def _watch(self, project: Project) -> None:
        bars: dict[str, tqdm] = {}
        while True:
            project.refresh_from_db()
            for stage in project.stages.order_by("order"):
                bar = bars.get(stage.name) or bars.setdefault(
                    stage.name,
                    tqdm(
                        total=100,
                        desc=f"{stage.order + 1}. {stage.name}",
                        file=self.stderr._out,
                        bar_format="{desc:<16} {bar} {n:3.0f}% {postfix}",
                    ),
                )
                bar.n = round(stage.progress * 100)
                bar.set_postfix_str(stage.state)
            if project.state != Project.State.LAUNCHING:
                break
            time.sleep(0.5)
        for bar in bars.values():
            bar.close()
        failed = project.stages.filter(state="failed").first()
        if failed:
            raise CommandError(f"stage {failed.name} failed: {failed.error.splitlines()[0]}")
        self.stdout.write(f"project {project.name!r} is {project.state}: {project.tasks.count()} tasks")
