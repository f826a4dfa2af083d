"""Fault recovery (issue 17): heartbeats on stages, imports and exports; a stage's history."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0010_rating_statistics"),
    ]

    operations = [
        migrations.AddField(
            model_name="pipelinestage", name="heartbeat_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="pipelinestage", name="history", field=models.JSONField(blank=True, default=list)
        ),
        migrations.AddField(
            model_name="importrun", name="heartbeat_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="exportrun", name="heartbeat_at", field=models.DateTimeField(blank=True, null=True)
        ),
    ]
