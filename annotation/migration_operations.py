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


class AddFieldInPlace(migrations.AddField):
    """AddField as one `ALTER TABLE ... ADD COLUMN` on SQLite too.

    SQLite's schema editor rebuilds a table to add a NOT NULL column, and the rebuild recreates
    every index in the model state, including the PostgreSQL-only claim index above, which
    SQLite cannot build. A column with a constant `db_default` can simply be added in place."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "sqlite":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        from django.db.backends.base.schema import BaseDatabaseSchemaEditor

        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            BaseDatabaseSchemaEditor.add_field(schema_editor, model, model._meta.get_field(self.name))
