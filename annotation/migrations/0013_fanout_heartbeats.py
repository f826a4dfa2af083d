"""Heartbeats on groups builds, screening runs and embed runs, so the sweeper can tell a
stalled fan-out (its worker died, its messages were lost) from a long-running one."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotation", "0012_encoders")]

    operations = [
        migrations.AddField("groupsbuild", "heartbeat_at", models.DateTimeField(blank=True, null=True)),
        migrations.AddField("screeningrun", "heartbeat_at", models.DateTimeField(blank=True, null=True)),
        migrations.AddField("embedrun", "heartbeat_at", models.DateTimeField(blank=True, null=True)),
    ]
