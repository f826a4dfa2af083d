"""`python manage.py screen_media --dataset NAME [--queue]`: (re-)screen a dataset's media."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Dataset, ScreeningRun
from annotation.screening import runs


class Command(BaseCommand):
    help = (
        "Probe every item's media file (images decode, video/audio decode with a duration and, for "
        "video, a constant frame rate, point clouds load with finite coordinates) and store the "
        "result on the item. Idempotent: re-running gives the same statuses."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset name")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="run the parts on the cpu workers and watch, instead of in this process",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset {options['dataset']!r}")
        bar = tqdm(
            total=dataset.items.count(),
            desc=f"screening {dataset.name}",
            unit="item",
            file=self.stderr._out,
            disable=options["no_progress"],
        )
        run = runs.start(dataset, queue=options["queue"])
        if options["queue"]:
            run = self._watch(run, bar)
        else:
            run = runs.run_here(run, bar.update)
        bar.close()
        if run.state != ScreeningRun.State.SUCCEEDED:
            raise CommandError(f"screening {run.pk} {run.state}: {run.error}")
        self.stdout.write(json.dumps({"screening": run.pk, **run.counts}))

    def _watch(self, run: ScreeningRun, bar: tqdm) -> ScreeningRun:
        while run.state in (ScreeningRun.State.PENDING, ScreeningRun.State.RUNNING):
            time.sleep(0.5)
            run.refresh_from_db()
            bar.n = round(run.progress * bar.total)
            bar.refresh()
        return run
