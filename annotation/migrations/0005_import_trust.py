"""Import trust boundaries (issue 11 parts 1-3): ImportRun.upload marks runs whose source is
an uploaded archive, which the worker unpacks and removes when the run ends."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0004_exports"),
    ]

    operations = [
        migrations.AddField(
            model_name="importrun",
            name="upload",
            field=models.BooleanField(
                default=False, help_text="source is an uploaded archive, removed when the run ends"
            ),
        ),
    ]
