"""The audit log of admin actions (annotation.models.AuditEntry)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0006_media_screening"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("actor_name", models.CharField(help_text="the username, kept if the user is deleted", max_length=150)),
                (
                    "action",
                    models.CharField(db_index=True, help_text="e.g. project.delete, pipeline.launch", max_length=64),
                ),
                ("target_type", models.CharField(max_length=64)),
                ("target_id", models.BigIntegerField(null=True)),
                (
                    "target_repr",
                    models.CharField(blank=True, help_text="the target's name when it was acted on", max_length=200),
                ),
                ("details", models.JSONField(blank=True, default=dict)),
                ("address", models.CharField(blank=True, help_text="client address", max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "actor",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "audit entries",
                "ordering": ["-created_at", "-id"],
            },
        ),
    ]
