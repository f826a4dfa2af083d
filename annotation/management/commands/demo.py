"""`python manage.py demo`: build and import the demo dataset, create demo logins.

Re-running is cheap and safe: the bundle is built once, the import upserts, users
are created only when missing.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from annotation.demo import groups as demo_groups, projects as demo_projects, ratings
from annotation.demo.build import build_demo_bundle
from annotation.importing import import_bundle
from annotation.models import Dataset, EmbeddingSpace, Project

TINY_DIM = 64  # the demo's random-weight encoders (sampling/encoders/tiny.py)
CLEANING_TARGET = 0.8  # precision the cleaned demo groups' threshold must meet (lower bound)
DEMO_USERS = [("admin", "admin-demo", True)] + [(f"annotator{i}", "annotator-demo", False) for i in (1, 2, 3)]


class Command(BaseCommand):
    help = "Build and import the demo dataset and create the demo users."

    def add_arguments(self, parser):
        parser.add_argument("--no-input", action="store_true", help="never prompt")
        parser.add_argument("--rebuild", action="store_true", help="rebuild the bundle from its sources")
        parser.add_argument("--audiocaps", type=int, default=1500, help="AudioCaps captions to include")
        parser.add_argument(
            "--projects",
            type=int,
            default=len(demo_projects.PROJECTS),
            help="launch only the first N demo projects (the tests launch one)",
        )

    def handle(self, *args, **options):
        log_path = Path(settings.VAR_DIR) / "demo.log"
        with quiet_logging(log_path, self.stdout):
            self._demo(options)
        self.stdout.write(f"full log: {log_path}")

    def _demo(self, options) -> None:
        bundle = Path(settings.VAR_DIR) / "demo-bundle"
        if options["rebuild"] or not (bundle / "pairrate.json").is_file():
            self.stdout.write("building the demo bundle (embeds every caption with all-MiniLM-L6-v2)...")
            build_demo_bundle(bundle, options["audiocaps"])
        summary = import_bundle(bundle)
        self.stdout.write(
            f"imported {summary.items} items and {summary.captions} captions into dataset {summary.dataset!r}"
        )
        from annotation.screening import runs as screening  # probe every media file, as a worker would

        screened = screening.run_here(screening.start(Dataset.objects.get(name=summary.dataset), queue=False))
        self.stdout.write(f"screened media: {screened.counts}")
        for username, password, staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": staff, "is_superuser": staff}
            )
            if created:
                user.set_password(password)
                user.save()
        self._embed_with_tiny_encoders()
        rated = self._launch_projects(demo_projects.PROJECTS[: options["projects"]])
        build = self._build_groups()
        for project in rated:
            self._clean_groups(build, project)
        self.stdout.write("logins: " + ", ".join(f"{u} / {p}" for u, p, _ in DEMO_USERS))

    def _embed_with_tiny_encoders(self) -> None:
        """Embed the real photos and sounds on the workers' path (annotation/embedding) with
        small random-weight CLIP and CLAP checkpoints built here: the real loading and
        embedding code runs, but these vectors mean nothing (the minilm-* spaces carry the
        meaning; README). Built once under VAR_DIR/encoders; re-runs embed nothing new."""
        from annotation.embedding import runs
        from sampling.encoders.tiny import build_clap, build_clip

        root = Path(settings.PAIRRATE_ENCODER_ROOTS[0])
        dataset = Dataset.objects.get(name="demo")
        for name, family, build, modality in (
            ("tiny-clip-image", "clip", build_clip, "image"),
            ("tiny-clap-audio", "clap", build_clap, "audio"),
        ):
            folder = root / name
            if not (folder / "config.json").is_file():
                build(folder, dim=TINY_DIM)
            space, _ = EmbeddingSpace.objects.get_or_create(
                name=name,
                defaults={"model_name": f"random-weight {family} (demo)", "dim": TINY_DIM, "target_modality": modality},
            )
            runs.configure_space(space, family, str(folder))
            run = runs.start(dataset, space)
            run.refresh_from_db()
            self.stdout.write(
                f"space {name!r}: embedded {run.counts.get('items_embedded', 0)} {modality} items and "
                f"{run.counts.get('captions_embedded', 0)} captions ({run.state})"
            )

    def _build_groups(self):
        """Retrieval groups for every demo caption in the four minilm spaces (in-process);
        the admin downloads them from /api/groups/ or the admin site. Built once."""
        build = demo_groups.build_groups()
        self.stdout.write(
            f"groups {build.pk}: {build.state}, {build.counts.get('captions', 0)} captions x {build.k} "
            f"in {', '.join(build.modalities)}"
        )
        return build

    def _launch_projects(self, specs: list[dict]) -> list[Project]:
        """Launch the demo projects; the ones marked so get SIMULATED ratings (ratings.py)."""
        rated = []
        for spec in specs:
            project = demo_projects.launch(spec)
            self.stdout.write(f"project {project.name!r}: {project.state}, {project.tasks.count()} tasks")
            if spec.get("simulated_ratings") and project.state == Project.State.READY:
                submitted = ratings.simulate(project)
                self.stdout.write(
                    f"SIMULATED ratings: {', '.join(ratings.SIMULATED)} (not people; a seeded rule, "
                    f"docs/demo.md) submitted {submitted} tasks of {project.name!r}"
                    if submitted
                    else f"SIMULATED ratings of {project.name!r}: already there"
                )
                rated.append(project)
        return rated

    def _clean_groups(self, build, project: Project) -> None:
        """The demo groups cleaned with the rated project's threshold (the cpu task, in
        this process): groups/<build>/cleaned/, listed at /api/insights/groups/<build>/clean/."""
        from annotation.insights import cleaning, cleaning_runs

        if build.state != "succeeded" or project.target_modality not in build.modalities:
            return
        try:
            run = cleaning_runs.start(build, [project], target=CLEANING_TARGET)
        except (cleaning.CleaningError, cleaning_runs.CleaningBusy) as exc:
            self.stdout.write(f"groups {build.pk}: not cleaned: {exc}")
            return
        build.refresh_from_db()
        run = cleaning_runs.record(build)
        if run["state"] != "succeeded":
            self.stdout.write(f"groups {build.pk}: cleaning {run['state']}: {run['error']}")
            return
        m = run["manifest"]["modalities"][project.target_modality]
        threshold = "no threshold meets the target" if m["threshold"] is None else f"similarity >= {m['threshold']:.3f}"
        self.stdout.write(
            f"groups {build.pk} cleaned with the simulated ratings (precision >= {CLEANING_TARGET:.0%}): "
            f"{project.target_modality} {threshold}, kept {m['pairs_kept']} of {m['pairs_total']} pairs"
        )


# Our own code logs warnings to the console; libraries (faiss's loader, kombu, Celery's task
# traces, transformers, trimesh) only errors, and Celery not even those: in-process its
# failures re-raise here. Everything at PAIRRATE_LOG_LEVEL goes to the log file.
OWN_LOGGERS = ("annotation", "sampling", "tasks", "pairrate", "django")


class _ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == "stage finished":
            return True
        own = record.name.split(".")[0] in OWN_LOGGERS
        return record.levelno >= (logging.WARNING if own else logging.ERROR) and not record.name.startswith("celery")


class _ConsoleHandler(logging.Handler):
    """One short line per record on the command's output: a stage's counts, or the message."""

    def __init__(self, out):
        super().__init__()
        self.out = out
        self.addFilter(_ConsoleFilter())

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "stage finished":
            counts = ", ".join(
                f"{k} {v}"
                for k, v in (getattr(record, "counts", None) or {}).items()
                if isinstance(v, (int, float, str))
            )
            self.out.write(
                f"  project {getattr(record, 'project', '?')}: stage {getattr(record, 'stage', '?')} "
                f"done{': ' + counts if counts else ''}"
            )
        else:
            self.out.write(f"{record.levelname.lower()}: {record.name}: {record.getMessage()}")


@contextmanager
def quiet_logging(path: Path, out):
    """For the demo command only (production keeps settings.LOGGING): the root logger writes
    the full log to `path` and a short console of our own lines to `out`; library progress
    bars are off. Restored on exit."""
    from transformers.utils import logging as hf_logging

    root = logging.getLogger()
    saved = root.handlers[:]
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.handlers = [to_file, _ConsoleHandler(out)]
    hf_logging.disable_default_handler()  # transformers has its own stderr handler: send it to ours
    hf_logging.enable_propagation()
    hf_logging.disable_progress_bar()
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        hf_logging.enable_progress_bar()
        hf_logging.disable_propagation()
        hf_logging.enable_default_handler()
        root.handlers = saved
        to_file.close()
