"""Cursors for the raw SQL of the hot annotation requests (token, next, submit).

PostgreSQL spent more time parsing and planning these statements than running them (the
claim 0.4 ms plan / 0.3 ms run, consensus 1.0 / 0.2, payload 0.3 / 0.04). A server-binding
cursor lets psycopg prepare each statement once its connection has run it
`prepare_threshold` times (settings.DATABASES OPTIONS); from then on the server reuses the
parsed statement and, usually, its plan. Django's default cursor binds on the client and
never prepares, so nothing else in the project changes. Prepared statements live in one
server session: safe with persistent connections, not behind a transaction-mode pooler.

Hot statements name their columns instead of `SELECT *`, so a column added by a migration
while the server runs does not change a prepared statement's result type.
"""
from __future__ import annotations

from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


def hot_cursor():
    """A Django cursor (error wrapping and query logging as usual) that PostgreSQL may prepare."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute read through django.db.connection looks it up
    if db.vendor != "postgresql":
        return db.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    cursor = ServerBindingCursor(db.connection)
    return _LoggedCursor(cursor, db) if db.queries_logged else db.make_cursor(cursor)


class _LoggedCursor(CursorDebugWrapper):
    """Logs the statement as written: Django reads the executed text back from psycopg, which
    has none for a statement run prepared."""

    def execute(self, sql, params=None):
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def fetch_one(sql: str, params) -> tuple | None:
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@lru_cache(maxsize=16)
def select_list(model, alias: str) -> str:
    """All the model's columns under `alias`, in the order of attnames(model), for SELECT."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in model._meta.concrete_fields)


@lru_cache(maxsize=16)
def attnames(model) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def instance(model, names: list[str], row):
    """A model instance from a row of `names`' columns, with the value conversions a queryset
    applies (JSON text to lists, SQLite's text dates), without building a queryset."""
    values = list(row)
    for i, expression, converters in _converters(model, tuple(names), connection.ops):
        for convert in converters:
            values[i] = convert(values[i], expression, connection)
    return model.from_db(connection.alias, names, values)


@lru_cache(maxsize=64)
def _converters(model, names: tuple[str, ...], ops) -> list:
    """Per column: the backend's and the field's converters (what the SQL compiler looks up for
    every query), once per model, column list and connection."""
    found = []
    for i, name in enumerate(names):
        column = model._meta.get_field(name).get_col(model._meta.db_table)
        converters = ops.get_db_converters(column) + column.get_db_converters(ops.connection)
        if converters:
            found.append((i, column, converters))
    return found
