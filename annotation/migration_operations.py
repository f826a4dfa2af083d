"""Migration operations that only make sense on one database vendor."""
from django.db import migrations


class AddIndexOnPostgres(migrations.AddIndex):
    """An index SQLite cannot build (`NULLS LAST` in an index); the SQLite demo does without it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
