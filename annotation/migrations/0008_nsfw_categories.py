"""NSFW categories (issue 12): people's safety labels for calibration, the captions the
filter stage dropped with their reasons, and the lexicon as the default backend."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0007_api_security"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="project",
            name="nsfw_backend",
            field=models.CharField(
                default="auto",
                help_text="auto (detoxify when configured, else lexicon), lexicon, detoxify, profanity, none",
                max_length=16,
            ),
        ),
        migrations.CreateModel(
            name="CaptionSafetyLabel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "label",
                    models.CharField(
                        choices=[
                            ("clean", "clean"),
                            ("sexual", "sexual"),
                            ("profanity", "profanity"),
                            ("hate", "hate"),
                            ("violence_graphic", "violence_graphic"),
                        ],
                        max_length=20,
                    ),
                ),
                ("labelled_at", models.DateTimeField(auto_now=True)),
                (
                    "caption",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="safety_label",
                        to="annotation.caption",
                    ),
                ),
                (
                    "labelled_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["label"], name="safety_label_label")],
            },
        ),
        migrations.CreateModel(
            name="FilteredCaption",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "reason",
                    models.CharField(help_text="thresholds exceeded, e.g. 'sexual 0.92 > 0.5 (naked)'", max_length=300),
                ),
                ("scores", models.JSONField(default=dict, help_text="category (and backend label) -> score")),
                (
                    "caption",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="annotation.caption"
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="filtered_captions",
                        to="annotation.project",
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("project", "caption"), name="filtered_caption_unique")],
            },
        ),
    ]
