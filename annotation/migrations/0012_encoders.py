"""Encoders on embedding spaces; embed runs and their parts (issue 19)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0011_fault_recovery"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="embeddingspace",
            name="encoder_family",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="embeddingspace",
            name="encoder_fingerprint",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="embeddingspace",
            name="encoder_info",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="embeddingspace",
            name="encoder_path",
            field=models.CharField(blank=True, help_text="checkpoint folder on the workers", max_length=1000),
        ),
        migrations.CreateModel(
            name="EmbedRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("running", "Running"),
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("parts_total", models.PositiveIntegerField(default=0)),
                ("parts_done", models.PositiveIntegerField(default=0)),
                ("counts", models.JSONField(blank=True, default=dict)),
                ("errors", models.JSONField(blank=True, default=list)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "dataset",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="embed_runs", to="annotation.dataset"
                    ),
                ),
                (
                    "space",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="embed_runs",
                        to="annotation.embeddingspace",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="EmbedPart",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("side", models.CharField(choices=[("captions", "Captions"), ("items", "Items")], max_length=8)),
                ("index", models.PositiveIntegerField()),
                ("first", models.PositiveIntegerField()),
                ("rows", models.PositiveIntegerField()),
                ("done", models.BooleanField(default=False)),
                ("embedded", models.PositiveIntegerField(default=0)),
                (
                    "failures",
                    models.JSONField(
                        blank=True, default=list, help_text="[{id, external_id, reason}] of items skipped"
                    ),
                ),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="parts", to="annotation.embedrun"
                    ),
                ),
            ],
            options={
                "ordering": ["run", "side", "index"],
                "constraints": [models.UniqueConstraint(fields=("run", "side", "index"), name="embed_part_unique")],
            },
        ),
    ]
