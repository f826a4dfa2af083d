"""IVF defaults of groups builds: nprobe blank = nlist / 32, at least 16 (was a fixed 16, recall
about 0.83 at 1M items), nlist blank = 2 sqrt(n) (was 4 sqrt(n)). Existing builds keep theirs."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0013_fanout_heartbeats"),
    ]

    operations = [
        migrations.AlterField(
            model_name="groupsbuild",
            name="nlist",
            field=models.PositiveIntegerField(
                blank=True, help_text="IVF lists per item chunk; blank = 2 sqrt(n)", null=True
            ),
        ),
        migrations.AlterField(
            model_name="groupsbuild",
            name="nprobe",
            field=models.PositiveIntegerField(
                blank=True, help_text="IVF lists searched per caption; blank = nlist / 32, at least 16", null=True
            ),
        ),
    ]
