"""Retrieval groups: GroupsBuild, its GroupsPart rows, and ProjectGroups (issue 13)."""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0008_nsfw_categories"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="GroupsBuild",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(blank=True, max_length=200)),
                (
                    "source",
                    models.CharField(
                        choices=[("built", "Built"), ("imported", "Imported")], default="built", max_length=16
                    ),
                ),
                ("caption_source_modalities", models.JSONField(blank=True, default=list)),
                ("caption_source_datasets", models.JSONField(blank=True, default=list)),
                (
                    "pool_key",
                    models.CharField(
                        db_index=True, help_text="datasets + filters; one build at a time", max_length=500
                    ),
                ),
                ("modalities", models.JSONField(default=list)),
                (
                    "k",
                    models.PositiveSmallIntegerField(
                        default=16,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(256),
                        ],
                    ),
                ),
                (
                    "method",
                    models.CharField(choices=[("exact", "Exact"), ("ivf", "Ivf")], default="exact", max_length=8),
                ),
                (
                    "nlist",
                    models.PositiveIntegerField(
                        blank=True, help_text="IVF lists per item chunk; blank = 4 sqrt(n)", null=True
                    ),
                ),
                ("nprobe", models.PositiveIntegerField(default=16)),
                ("seed", models.BigIntegerField(default=0)),
                ("caption_chunk_rows", models.PositiveIntegerField()),
                ("item_chunk_rows", models.PositiveIntegerField()),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("running", "Running"),
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("progress", models.FloatField(default=0.0)),
                ("counts", models.JSONField(blank=True, default=dict)),
                (
                    "recall",
                    models.JSONField(blank=True, default=dict, help_text="IVF: modality -> recall@k against exact"),
                ),
                ("error", models.TextField(blank=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                (
                    "output_path",
                    models.CharField(blank=True, help_text="folder relative to MEDIA_ROOT", max_length=500),
                ),
                ("files", models.JSONField(blank=True, default=dict, help_text="output file -> {bytes, sha256, rows}")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("caption_datasets", models.ManyToManyField(related_name="+", to="annotation.dataset")),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("spaces", models.ManyToManyField(blank=True, related_name="+", to="annotation.embeddingspace")),
            ],
        ),
        migrations.CreateModel(
            name="ProjectGroups",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "build",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="projects",
                        to="annotation.groupsbuild",
                    ),
                ),
                (
                    "project",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="groups_source",
                        to="annotation.project",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="GroupsPart",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("search", "Search"), ("merge", "Merge")], max_length=8)),
                ("modality", models.CharField(blank=True, help_text="blank for a merge", max_length=16)),
                ("caption_chunk", models.PositiveIntegerField()),
                ("item_chunk", models.PositiveIntegerField(default=0)),
                (
                    "state",
                    models.CharField(
                        choices=[("pending", "Pending"), ("done", "Done")], default="pending", max_length=8
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("worker", models.CharField(blank=True, help_text="the worker that finished it", max_length=200)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "build",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="parts", to="annotation.groupsbuild"
                    ),
                ),
            ],
            options={
                "ordering": ["build", "caption_chunk", "kind", "modality", "item_chunk"],
                "indexes": [models.Index(fields=["build", "kind", "state"], name="groups_part_state")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("build", "kind", "modality", "caption_chunk", "item_chunk"), name="groups_part_unique"
                    )
                ],
            },
        ),
    ]
