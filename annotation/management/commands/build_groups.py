"""`python manage.py build_groups`: build retrieval groups for every caption of a pool.

    build_groups --datasets emm1 --space image=clip-image --space audio=clap --k 16
    build_groups --retry 7 | --cancel 7
    build_groups --import /data/emm1-100m --datasets emm1     (the E-MM1 100M layout)
    build_groups --link 7 --project my-project                (rate pairs of build 7)
    build_groups --pairs pairs.csv --project my-project       (rate pairs you already have)

The build runs on the Celery workers (in-process where Celery is eager, as in the
demo); the command shows a progress bar until it settles (`--no-wait` returns at once).
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.groups import GroupsRequestError, create_build, runner
from annotation.models import GroupsBuild, Project


def describe(exc: GroupsRequestError) -> str:
    details = "".join(f"\n  {field}: {'; '.join(messages)}" for field, messages in exc.fields.items())
    return f"{exc.message} [{exc.code}]{details}"


class Command(BaseCommand):
    help = "Build top-k retrieval groups (per target modality) for every caption of a pool."

    def add_arguments(self, parser):
        parser.add_argument("--datasets", nargs="+", default=[], help="caption datasets (names or ids)")
        parser.add_argument(
            "--space",
            action="append",
            default=[],
            metavar="MODALITY=SPACE",
            help="one embedding space per target modality (video, audio, image, point_cloud)",
        )
        parser.add_argument("--k", type=int, default=16)
        parser.add_argument("--method", default="exact", help="exact or ivf")
        parser.add_argument("--nlist", type=int, default=None, help="ivf: lists per item chunk (default 2 sqrt(n))")
        parser.add_argument("--nprobe", type=int, default=None, help="ivf: lists searched (default nlist/32, >= 16)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--source-modality",
            action="append",
            default=[],
            dest="sources",
            help="only captions of this source modality (repeatable)",
        )
        parser.add_argument("--source-dataset", action="append", default=[], dest="source_datasets")
        parser.add_argument("--retry", type=int, metavar="BUILD", help="run a failed or cancelled build on")
        parser.add_argument("--cancel", type=int, metavar="BUILD")
        parser.add_argument("--no-wait", action="store_true", help="return once the build is queued")
        parser.add_argument(
            "--import",
            dest="import_path",
            metavar="FOLDER",
            help="load nn_1/data_groups.csv ... nn_k/data_groups.csv (captions and items of --datasets)",
        )
        parser.add_argument("--link", type=int, metavar="BUILD", help="a draft --project takes candidates from BUILD")
        parser.add_argument(
            "--pairs",
            metavar="FILE",
            help="a draft --project rates these pairs (CSV/JSONL/Parquet, E-MM1 triplets.csv)",
        )
        parser.add_argument("--project", help="project id or name (with --link or --pairs)")

    def handle(self, *args, **options):
        try:
            if options["link"]:
                self._link(options["link"], options["project"])
                return
            if options["pairs"]:
                self._pairs(Path(options["pairs"]), options["project"])
                return
            if options["import_path"]:
                from annotation.groups.importing import import_groups
                from annotation.importing.errors import BundleError

                try:
                    build = import_groups(Path(options["import_path"]), options["datasets"], name=options["name"])
                except BundleError as exc:
                    raise CommandError("\n".join(str(e) for e in exc.errors)) from exc
                self.stdout.write(
                    f"groups build {build.pk} imported: {build.counts['captions']} captions x "
                    f"{build.k} in {', '.join(build.modalities)}"
                )
                return
            if options["cancel"]:
                build = runner.cancel(options["cancel"])
                self.stdout.write(f"groups build {build.pk} cancelled")
                return
            if options["retry"]:
                build = runner.retry(options["retry"])
            else:
                spaces = {}
                for pair in options["space"]:
                    modality, sep, space = pair.partition("=")
                    if not sep:
                        raise CommandError(f"--space {pair!r}: write MODALITY=SPACE")
                    spaces[modality] = space
                build = create_build(
                    options["datasets"],
                    spaces,
                    k=options["k"],
                    method=options["method"],
                    nlist=options["nlist"],
                    nprobe=options["nprobe"],
                    seed=options["seed"],
                    name=options["name"],
                    caption_source_modalities=options["sources"],
                    caption_source_datasets=options["source_datasets"],
                )
                runner.start(build.pk)
        except GroupsBuild.DoesNotExist:
            raise CommandError("no such groups build") from None
        except GroupsRequestError as exc:
            raise CommandError(describe(exc)) from exc
        self.stdout.write(f"groups build {build.pk} started")
        if not options["no_wait"]:
            self._watch(build)

    def _project(self, key: str | None) -> Project:
        if not key:
            raise CommandError("name the --project")
        project = Project.objects.filter(**({"pk": int(key)} if key.isdigit() else {"name": key})).first()
        if project is None:
            raise CommandError(f"no project {key!r}")
        return project

    def _pairs(self, path: Path, key: str | None) -> None:
        from annotation.groups.pairs import project_from_pairs
        from annotation.importing.errors import BundleError

        project = self._project(key)
        try:
            build = project_from_pairs(path, project)
        except BundleError as exc:
            raise CommandError("\n".join(str(e) for e in exc.errors)) from exc
        self.stdout.write(
            f"project {project.name!r} takes its candidates from {build.counts['pairs']} pairs "
            f"(groups build {build.pk}); launch it with launch_project"
        )

    def _link(self, build_id: int, key: str | None) -> None:
        from annotation.groups.candidates import link_project

        project = self._project(key)
        link_project(project, GroupsBuild.objects.get(pk=build_id))
        self.stdout.write(f"project {project.name!r} takes its candidates from groups build {build_id}")

    def _watch(self, build: GroupsBuild) -> None:
        bar = tqdm(
            total=100, desc=f"groups {build.pk}", file=self.stderr._out, bar_format="{desc} {bar} {n:3.0f}% {postfix}"
        )
        while True:
            build.refresh_from_db()
            bar.n = round(build.progress * 100)
            bar.set_postfix_str(build.state)
            if build.state not in (GroupsBuild.State.PENDING, GroupsBuild.State.RUNNING):
                break
            time.sleep(0.5)
        bar.close()
        if build.state != GroupsBuild.State.SUCCEEDED:
            raise CommandError(
                f"groups build {build.pk} {build.state}: {build.error.splitlines()[0] if build.error else ''}"
            )
        self.stdout.write(
            f"groups build {build.pk} succeeded: {build.counts.get('captions', 0)} captions x "
            f"{build.k} in {', '.join(build.modalities)}; files in {build.output_path}"
        )
        for modality, figures in build.recall.items():
            self.stdout.write(
                f"  {modality}: recall@{figures['k']} {figures['recall_at_k']} on {figures['sample']} captions"
            )
