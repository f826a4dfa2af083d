"""Rating statistics (issue 15): the audit share of a project and the audit mark of a task."""

import django.core.validators
from django.db import migrations, models

from annotation.migration_operations import AddFieldInPlace


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0009_groups"),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="audit_share",
            field=models.FloatField(
                db_default=0.0,
                default=0.0,
                help_text="share of tasks whose candidates are drawn uniformly from the caption's top-k "
                "(not de-duplicated), so per-rank precision estimates are unbiased (docs/statistics.md)",
                validators=[
                    django.core.validators.MinValueValidator(0.0),
                    django.core.validators.MaxValueValidator(1.0),
                ],
            ),
        ),
        AddFieldInPlace(  # SQLite: no table rebuild (it cannot rebuild the claim index)
            model_name="task",
            name="is_audit",
            field=models.BooleanField(
                db_default=False,
                default=False,
                help_text="candidates drawn uniformly from the top-k (Project.audit_share)",
            ),
        ),
    ]
