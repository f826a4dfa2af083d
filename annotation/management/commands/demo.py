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

from annotation.demo.build import build_demo_bundle
from annotation.importing import import_bundle
from annotation.models import Dataset, EmbeddingSpace, Project, ProjectMember
from annotation.pipeline import runner

TINY_DIM = 64  # the demo's random-weight encoders (sampling/encoders/tiny.py)
DEMO_USERS = [("admin", "admin-demo", True)] + [(f"annotator{i}", "annotator-demo", False) for i in (1, 2, 3)]
INSTRUCTIONS = ("Does the candidate match the caption? good: it shows what the caption says; "
                "partial: some of it, or only roughly; bad: something else.")
# One project per target modality, sized to the demo's small item pools.
DEMO_PROJECTS = [
    {"name": "Demo: captions and photos (3 annotators)", "space": "minilm-image", "sample_size": 60,
     "item_cap": 12, "annotators_per_task": 3},
    {"name": "Demo: captions and sounds", "space": "minilm-audio", "sample_size": 40, "item_cap": 8},
    {"name": "Demo: captions and 3D objects", "space": "minilm-point-cloud", "sample_size": 12, "k": 8,
     "item_cap": 6},
    {"name": "Demo: captions and videos", "space": "minilm-video", "sample_size": 4, "k": 3, "item_cap": 4},
]


class Command(BaseCommand):
    help = "Build and import the demo dataset and create the demo users."

    def add_arguments(self, parser):
        parser.add_argument("--no-input", action="store_true", help="never prompt")
        parser.add_argument("--rebuild", action="store_true", help="rebuild the bundle from its sources")
        parser.add_argument("--audiocaps", type=int, default=1500, help="AudioCaps captions to include")
        parser.add_argument("--projects", type=int, default=len(DEMO_PROJECTS),
                            help="launch only the first N demo projects (the tests launch one)")

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
        self.stdout.write(f"imported {summary.items} items and {summary.captions} captions "
                          f"into dataset {summary.dataset!r}")
        from annotation.screening import runs as screening  # probe every media file, as a worker would

        screened = screening.run_here(screening.start(Dataset.objects.get(name=summary.dataset), queue=False))
        self.stdout.write(f"screened media: {screened.counts}")
        for username, password, staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": staff, "is_superuser": staff})
            if created:
                user.set_password(password)
                user.save()
        self._embed_with_tiny_encoders()
        self._launch_projects(DEMO_PROJECTS[:options["projects"]])
        self._build_groups()
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
        for name, family, build, modality in (("tiny-clip-image", "clip", build_clip, "image"),
                                              ("tiny-clap-audio", "clap", build_clap, "audio")):
            folder = root / name
            if not (folder / "config.json").is_file():
                build(folder, dim=TINY_DIM)
            space, _ = EmbeddingSpace.objects.get_or_create(
                name=name, defaults={"model_name": f"random-weight {family} (demo)", "dim": TINY_DIM,
                                     "target_modality": modality})
            runs.configure_space(space, family, str(folder))
            run = runs.start(dataset, space)
            run.refresh_from_db()
            self.stdout.write(f"space {name!r}: embedded {run.counts.get('items_embedded', 0)} {modality} items and "
                              f"{run.counts.get('captions_embedded', 0)} captions ({run.state})")

    def _build_groups(self) -> None:
        """Retrieval groups for every demo caption in the four minilm spaces (in-process);
        the admin downloads them from /api/groups/ or the admin site. Built once."""
        from annotation.groups import create_build, runner as groups_runner
        from annotation.models import GroupsBuild, ItemVector

        build = GroupsBuild.objects.filter(name="demo groups").order_by("-pk").first()
        if build is None or build.state in (GroupsBuild.State.FAILED, GroupsBuild.State.CANCELLED):
            spaces = {s.target_modality: s.name for s in EmbeddingSpace.objects.filter(name__startswith="minilm-")}
            smallest = min(ItemVector.objects.filter(space__name=name, item__modality=modality).count()
                           for modality, name in spaces.items())
            if build is None:
                build = create_build(["demo"], spaces, k=min(16, smallest), name="demo groups")
                groups_runner.start(build.pk)
            else:
                groups_runner.retry(build.pk)
            build.refresh_from_db()
        self.stdout.write(f"groups {build.pk}: {build.state}, {build.counts.get('captions', 0)} captions x {build.k} "
                          f"in {', '.join(build.modalities)}")

    def _launch_projects(self, specs: list[dict]) -> None:
        """Create and launch the demo projects (in-process: the demo has no broker)."""
        annotators = User.objects.filter(username__startswith="annotator")
        for spec in specs:
            spec = dict(spec)
            space = EmbeddingSpace.objects.get(name=spec.pop("space"))
            project, created = Project.objects.get_or_create(
                name=spec.pop("name"),
                defaults={"space": space, "target_modality": space.target_modality, "instructions": INSTRUCTIONS,
                          "seed": 1, **spec})
            if created:
                project.caption_datasets.set(Dataset.objects.filter(name="demo"))
            for user in annotators:
                ProjectMember.objects.get_or_create(project=project, user=user)
            if project.state in (Project.State.DRAFT, Project.State.FAILED):
                if project.state == Project.State.FAILED:
                    runner.retry(project.id)
                else:
                    runner.launch(project.id)
                project.refresh_from_db()
            self.stdout.write(f"project {project.name!r}: {project.state}, {project.tasks.count()} tasks")


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
            counts = ", ".join(f"{k} {v}" for k, v in (getattr(record, "counts", None) or {}).items()
                               if isinstance(v, (int, float, str)))
            self.out.write(f"  project {getattr(record, 'project', '?')}: stage {getattr(record, 'stage', '?')} "
                           f"done{': ' + counts if counts else ''}")
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
