"""Media screening: per-item result, screening runs, a project setting to include failures."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0005_import_trust"),
    ]

    operations = [
        migrations.AddField(
            model_name="item",
            name="screen_status",
            field=models.CharField(
                choices=[("pending", "Pending"), ("ok", "Ok"), ("failed", "Failed"), ("skipped", "Skipped")],
                db_default="pending",
                default="pending",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="item",
            name="screen_reason",
            field=models.CharField(blank=True, db_default="", default="", max_length=300),
        ),
        migrations.AddField(
            model_name="item",
            name="screened_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="item",
            index=models.Index(fields=["dataset", "screen_status"], name="item_screen_status"),
        ),
        migrations.AddField(
            model_name="project",
            name="include_failed_media",
            field=models.BooleanField(
                db_default=False,
                default=False,
                help_text="match items whose media failed screening too (left out by default)",
            ),
        ),
        migrations.CreateModel(
            name="ScreeningRun",
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
                ("progress", models.FloatField(default=0.0)),
                ("bounds", models.JSONField(blank=True, default=list)),
                ("done_parts", models.JSONField(blank=True, default=dict)),
                ("counts", models.JSONField(blank=True, default=dict)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "dataset",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="screenings", to="annotation.dataset"
                    ),
                ),
                (
                    "import_run",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="screening",
                        to="annotation.importrun",
                    ),
                ),
            ],
        ),
    ]
