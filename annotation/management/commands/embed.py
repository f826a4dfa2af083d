"""`python manage.py embed --dataset D --space S [--family F --checkpoint DIR]`: embed on the workers."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.embedding import runs
from annotation.embedding.exceptions import EmbedError
from annotation.models import Dataset, EmbeddingSpace, EmbedRun


class Command(BaseCommand):
    help = (
        "Embed a dataset's captions and items that lack vectors in a space, with the space's encoder "
        "(sampling/encoders), on the gpu queue's workers; shows progress until done."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset name")
        parser.add_argument("--space", required=True, help="embedding space name")
        parser.add_argument(
            "--family", help="configure the space's encoder family first (clip, clap, clip-video, points-torchscript)"
        )
        parser.add_argument("--checkpoint", help="the encoder's local checkpoint folder (with --family)")
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the space when missing (needs --family, --checkpoint and --dim)",
        )
        parser.add_argument("--dim", type=int, help="the space's dimension (with --create)")
        parser.add_argument("--no-wait", action="store_true", help="return once the run is queued")

    def handle(self, *args, **options):
        from sampling.encoders import FAMILIES

        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset {options['dataset']!r}")
        space = EmbeddingSpace.objects.filter(name=options["space"]).first()
        if space is None and options["create"]:
            if not (options["family"] in FAMILIES and options["checkpoint"] and options["dim"]):
                raise CommandError(
                    "--create needs --family (one of " + ", ".join(FAMILIES) + "), --checkpoint and --dim"
                )
            space = EmbeddingSpace(
                name=options["space"], model_name="", dim=options["dim"], target_modality=FAMILIES[options["family"]]
            )
        if space is None:
            raise CommandError(f"no embedding space {options['space']!r} (use --create)")
        try:
            if options["family"] or options["checkpoint"]:
                if not (options["family"] and options["checkpoint"]):
                    raise EmbedError("give --family and --checkpoint together", "family")
                if space.pk is None:
                    space.full_clean(exclude=["encoder_family", "encoder_path"])
                    space.save()
                runs.configure_space(space, options["family"], options["checkpoint"])
            run = runs.start(dataset, space)
        except EmbedError as exc:
            raise CommandError(f"{exc} [{exc.field}]") from exc
        if options["no_wait"]:
            self.stdout.write(f"embed run {run.pk} queued")
            return
        self._watch(run)

    def _watch(self, run: EmbedRun) -> None:
        bar = tqdm(total=1, desc=f"embed {run.dataset.name} in {run.space.name}", file=self.stderr._out, unit="part")
        while True:
            run.refresh_from_db()
            bar.total = max(run.parts_total, 1)
            bar.n = run.parts_done
            bar.refresh()
            if run.state in (EmbedRun.State.SUCCEEDED, EmbedRun.State.FAILED):
                break
            time.sleep(0.5)
        bar.close()
        if run.state == EmbedRun.State.FAILED:
            raise CommandError(f"embed run {run.pk} failed: {'; '.join(run.errors)}")
        counts = run.counts
        self.stdout.write(
            f"embedded {counts.get('captions_embedded', 0)} captions and "
            f"{counts.get('items_embedded', 0)} items; {counts.get('items_failed', 0)} items skipped"
        )
        for failure in runs.failures(run)[:20]:
            self.stdout.write(f"  skipped {failure['external_id']}: {failure['reason']}")
