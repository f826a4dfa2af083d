"""SQL statements per hot request (issue 6: next + submit under load) and the plain submit body."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.api.assignments import AssignmentSerializer, assignment_result
from annotation.models import Assignment
from tests.annotation.workflow_setup import client_for, join, make_project, next_task, rate_all

pytestmark = pytest.mark.django_db


def statements(call):
    """Run call(); return its result and the SQL it sent, savepoints (the tests' transaction) aside."""
    with CaptureQueriesContext(connection) as captured:
        result = call()
    sql = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    return result, sql


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite (the demo) claims without the one-statement path")
def test_next_and_submit_statements(annotators):
    """next: token, member+project, live lease, claim, payload. submit: token, assignment, ratings,
    task, assignment; the submit completing a task adds one read and one upsert for consensus."""
    project = make_project(n_tasks=5, per_task=3)
    join(project, *annotators[:3])
    for i, annotator in enumerate(annotators[:3]):
        client = client_for(annotator)
        response, sql = statements(lambda: next_task(client, project))
        assert response.status_code == 200 and len(sql) == 5, sql
        response, sql = statements(lambda: rate_all(client, response.json()))
        assert response.status_code == 200 and len(sql) == (7 if i == 2 else 5), sql
    first, _ = statements(lambda: next_task(client, project))
    again, sql = statements(lambda: next_task(client, project))  # the live lease again: no claim
    assert again.json()["id"] == first.json()["id"] and len(sql) == 4, sql


def test_submit_body_matches_the_serializer(annotators):
    project = make_project(n_tasks=2, per_task=1)
    join(project, annotators[0])
    client = client_for(annotators[0])
    payload = next_task(client, project).json()
    leased = Assignment.objects.get(pk=payload["id"])
    assert assignment_result(leased) == AssignmentSerializer(leased).data
    body = rate_all(client, payload, ["good", "bad", "partial"], flags=["media_broken"], seconds=2.5).json()
    submitted = Assignment.objects.get(pk=payload["id"])
    assert body == assignment_result(submitted) == AssignmentSerializer(submitted).data
