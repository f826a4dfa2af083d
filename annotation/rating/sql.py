"""Every hand-written statement of the rating workflow, and the cursor they run on.

PostgreSQL spent more time parsing and planning these statements than running them (the
claim 0.4 ms plan / 0.3 ms run, consensus 1.0 / 0.2, payload 0.3 / 0.04). A server-binding
cursor lets psycopg prepare each statement once its connection has run it
`prepare_threshold` times (settings.DATABASES OPTIONS); from then on the server reuses the
parsed statement and, usually, its plan. Django's default cursor binds on the client and
never prepares, so nothing else in the project changes. Prepared statements live in one
server session: safe with persistent connections, not behind a transaction-mode pooler.

Hot statements name their columns instead of `SELECT *`, so a column added by a migration
while the server runs does not change a prepared statement's result type. Table and column
names come from the models (`Names`), so renaming a field or a table in a model and its
migration cannot leave a statement here reading the old name.
"""

from __future__ import annotations

from functools import cache, lru_cache

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from rest_framework.authtoken.models import Token

from ..models import Assignment, Caption, Item, PairResult, Project, ProjectMember, Rating, Task, TaskCandidate


class Names:
    """A model's names for SQL: `{N}` formats as its table, `N.field` is that field's column
    (`N.task` is `task_id`)."""

    def __init__(self, model):
        self._meta = model._meta

    def __format__(self, spec: str) -> str:
        return self._meta.db_table

    def __getattr__(self, field: str) -> str:
        if field.startswith("_"):
            raise AttributeError(field)
        return self._meta.get_field(field).column


A, C, IT, M = Names(Assignment), Names(Caption), Names(Item), Names(ProjectMember)
P, PR, R, T, TC = Names(Project), Names(PairResult), Names(Rating), Names(Task), Names(TaskCandidate)
LEASED, EXPIRED = Assignment.State.LEASED.value, Assignment.State.EXPIRED.value


# ---------------------------------------------------------------- the cursor


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


# ---------------------------------------------------------------- rows to instances


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


def deferred(model, values: dict):
    """An instance from some of its columns; the others load on access, as with .only()."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(connection.alias, names, [values[name] for name in names])


def row_lock(alias: str) -> str:
    """Row lock clause for raw SQL; SQLite has none (its writes are serialised)."""
    return f" FOR NO KEY UPDATE OF {alias}" if connection.features.has_select_for_no_key_update else ""


# ---------------------------------------------------------------- authentication


@lru_cache(maxsize=4)
def user_by_token(user_model) -> tuple[list[str], str]:
    """The user's columns (names, statement) for a token key: one prepared join per request."""
    U, K = Names(user_model), Names(Token)
    return attnames(user_model), (
        f"SELECT {select_list(user_model, 'u')} FROM {U} u JOIN {K} t ON t.{K.user} = u.{U.id} WHERE t.{K.key} = %s"
    )


# ---------------------------------------------------------------- claims

# The project columns the workflow reads; the rest load on access, as with .only(). Building
# these queries with the ORM (select_related on a wide row) cost more CPU than running them.
PROJECT_FIELDS = [
    "instructions",
    "state",
    "annotators_per_task",
    "consensus_rule",
    "contested_route",
    "max_extra_annotators",
    "lease_seconds",
    "gold_rate",
    "gold_pause_threshold",
    "gold_min_answers",
]
MEMBER_FIELDS = ["id", "paused", "served", "gold_served"]
LEASE_FIELDS = ["id", "project_id", "task_id", "annotator_id", "state", "gold", "leased_at", "leased_until"]


def _project_columns() -> str:
    return ", ".join(f"p.{getattr(P, name)}" for name in PROJECT_FIELDS)


@cache
def live_lease() -> str:
    """The caller's leased assignment in a project (params: project, annotator, state)."""
    return (
        f"SELECT {select_list(Assignment, 'a')} FROM {A} a "
        f"WHERE a.{A.project} = %s AND a.{A.annotator} = %s AND a.{A.state} = %s "
        f"ORDER BY a.{A.leased_until} LIMIT 1"
    )


@cache
def lock_member(lock: str) -> str:
    """MEMBER_FIELDS then PROJECT_FIELDS of the caller's membership (params: project, user)."""
    members = ", ".join(f"m.{getattr(M, name)}" for name in MEMBER_FIELDS)
    return (
        f"SELECT {members}, {_project_columns()} FROM {M} m JOIN {P} p ON p.{P.id} = m.{M.project} "
        f"WHERE m.{M.project} = %s AND m.{M.user} = %s{lock}"
    )


NO_FSYNC_WAIT = "SET LOCAL synchronous_commit = off"

# PostgreSQL: take over an expired lease, else claim a free slot, in one statement that skips
# locked rows and so never waits. Same queries and order as claim._take_over and
# claim._claim_regular with skip_locked=True; it also counts the lease as served and skips the
# WAL flush wait. Returns (assignment id, task id).
CLAIM_AT_ONCE = f"""
WITH stale AS (
    SELECT s.{A.id} AS id, s.{A.task} AS task_id FROM {A} s
    WHERE s.{A.project} = %(project)s AND s.{A.state} = '{LEASED}' AND NOT s.{A.gold}
      AND s.{A.leased_until} < %(now)s
      AND NOT EXISTS (SELECT 1 FROM {A} o WHERE o.{A.task} = s.{A.task} AND o.{A.annotator} = %(user)s)
    ORDER BY s.{A.leased_until} LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED
), expired AS (
    UPDATE {A} a SET {A.state} = '{EXPIRED}' FROM stale WHERE a.{A.id} = stale.id RETURNING stale.task_id
), free AS (
    SELECT t.{T.id} AS id FROM {T} t
    WHERE t.{T.project} = %(project)s AND (t.{T.open_slots} > 0 OR t.{T.open_slots} IS NULL)
      AND NOT EXISTS (SELECT 1 FROM stale)
      AND NOT EXISTS (SELECT 1 FROM {A} o WHERE o.{A.task} = t.{T.id} AND o.{A.annotator} = %(user)s)
    ORDER BY t.{T.open_slots} ASC NULLS LAST, t.{T.position} LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED
), taken AS (
    UPDATE {T} t SET {T.open_slots} = COALESCE(t.{T.open_slots}, %(per_task)s) - 1
    FROM free WHERE t.{T.id} = free.id RETURNING t.{T.id} AS task_id
), lease AS (
    INSERT INTO {A} ({A.project}, {A.task}, {A.annotator}, {A.state}, {A.gold}, {A.leased_at},
                     {A.leased_until}, {A.flags}, {A.gold_total}, {A.gold_correct})
    SELECT %(project)s, task_id, %(user)s, '{LEASED}', false, %(now)s, %(until)s, '[]', 0, 0
    FROM (SELECT task_id FROM expired UNION ALL SELECT task_id FROM taken) claimed
    RETURNING {A.id} AS id, {A.task} AS task_id
), served AS (
    UPDATE {M} SET {M.served} = {M.served} + 1 WHERE {M.id} = %(member)s AND EXISTS (SELECT 1 FROM lease)
)
SELECT id, task_id, set_config('synchronous_commit', 'off', true) FROM lease
"""


# ---------------------------------------------------------------- submit, undo


@cache
def lock_own(lock: str) -> str:
    """An assignment's columns (attnames order) then PROJECT_FIELDS (param: assignment id)."""
    return (
        f"SELECT {select_list(Assignment, 'a')}, {_project_columns()} "
        f"FROM {A} a JOIN {P} p ON p.{P.id} = a.{A.project} WHERE a.{A.id} = %s{lock}"
    )


@lru_cache(maxsize=64)
def insert_ratings(count: int) -> str:
    """One rating per label, inserting nothing unless the labels name exactly the task's
    candidates (params: assignment, `count` (candidate, label) pairs, task, the `count`
    candidate ids, task, count)."""
    cases = " ".join(["WHEN %s THEN %s"] * count)
    return (
        f"INSERT INTO {R} ({R.assignment}, {R.candidate}, {R.label}) "
        f"SELECT %s, {TC.id}, CASE {TC.id} {cases} END FROM {TC} "
        f"WHERE {TC.task} = %s AND {TC.id} IN ({', '.join(['%s'] * count)}) "
        f"AND (SELECT COUNT(*) FROM {TC} WHERE {TC.task} = %s) = %s"
    )


COUNTED_FIELDS = ["id", "caption_id", "open_slots", "extra_slots", "rating_count", "is_gold"]
# Add to a task's rating_count (params: delta, task), returning COUNTED_FIELDS.
COUNT_RATING = (
    f"UPDATE {T} SET {T.rating_count} = {T.rating_count} + %s WHERE {T.id} = %s "
    f"RETURNING {', '.join(getattr(T, name) for name in COUNTED_FIELDS)}"
)

SUBMITTED_FIELDS = ["state", "submitted_at", "flags", "seconds", "gold_total", "gold_correct"]
# save(update_fields=SUBMITTED_FIELDS) (params: those fields' values, then the assignment id).
SAVE_SUBMITTED = (
    f"UPDATE {A} SET {', '.join(f'{getattr(A, name)} = %s' for name in SUBMITTED_FIELDS)} WHERE {A.id} = %s"
)


# ---------------------------------------------------------------- consensus

# Every candidate of a task with its media modality, the caption's modality, whether its result
# is adjudicated, and one row per submitted vote: all that consensus.update_task reads, in one
# query (params: the submitted state, task).
PAIRS = f"""
SELECT tc.{TC.id}, i.{IT.modality}, c.{C.source_modality}, pr.{PR.state}, r.{R.label}
FROM {TC} tc
JOIN {IT} i ON i.{IT.id} = tc.{TC.item}
JOIN {T} t ON t.{T.id} = tc.{TC.task}
JOIN {C} c ON c.{C.id} = t.{T.caption}
LEFT JOIN {PR} pr ON pr.{PR.candidate} = tc.{TC.id}
LEFT JOIN ({R} r JOIN {A} a ON a.{A.id} = r.{R.assignment} AND a.{A.state} = %s)
       ON r.{R.candidate} = tc.{TC.id} AND a.{A.task} = tc.{TC.task}
WHERE tc.{TC.task} = %s
ORDER BY tc.{TC.slot}
"""

UPSERT_FIELDS = (
    "project",
    "task",
    "candidate",
    "state",
    "label",
    "votes",
    "caption_modality",
    "item_modality",
    "updated_at",
)
UPSERT_UPDATES = ("state", "label", "votes", "updated_at")


@lru_cache(maxsize=64)
def upsert_results(count: int) -> str:
    """What bulk_create(update_conflicts=True) sent for `count` results (params per result:
    UPSERT_FIELDS' values)."""
    row = f"({', '.join(['%s'] * len(UPSERT_FIELDS))})"
    updates = ", ".join(f"{getattr(PR, name)} = EXCLUDED.{getattr(PR, name)}" for name in UPSERT_UPDATES)
    return (
        f"INSERT INTO {PR} ({', '.join(getattr(PR, name) for name in UPSERT_FIELDS)}) "
        f"VALUES {', '.join([row] * count)} ON CONFLICT ({PR.candidate}) DO UPDATE SET {updates}"
    )


# ---------------------------------------------------------------- the task payload

# The task's caption, context item and candidates (one row per candidate, in slot order;
# param: task).
PAYLOAD = f"""
SELECT c.{C.text}, c.{C.source_modality}, p.{IT.id}, p.{IT.modality}, p.{IT.media},
       tc.{TC.id}, tc.{TC.slot}, i.{IT.id}, i.{IT.modality}, i.{IT.media}
FROM {T} t
JOIN {C} c ON c.{C.id} = t.{T.caption}
LEFT JOIN {IT} p ON p.{IT.id} = t.{T.paired_item}
LEFT JOIN {TC} tc ON tc.{TC.task} = t.{T.id}
LEFT JOIN {IT} i ON i.{IT.id} = tc.{TC.item}
WHERE t.{T.id} = %s
ORDER BY tc.{TC.slot}
"""
