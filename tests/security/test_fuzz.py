"""A bounded schemathesis run of the whole OpenAPI schema, as an annotator and as an admin:
no 5xx, and every response conforms to the published schema (bench/fuzz_api.py runs longer).

PAIRRATE_FUZZ_EXAMPLES sets the examples per operation and generation mode (default 4),
PAIRRATE_FUZZ_SEED the hypothesis seed (default 0: the same requests every run).
"""

from __future__ import annotations

import json
import os

import pytest
from rest_framework.authtoken.models import Token

from annotation.models import ExportRun, PairResult
from tests.annotation.workflow_setup import client_for, join, make_project, make_user, next_task, rate_all
from tests.security.fuzzing import fuzz, in_test_transaction

pytestmark = pytest.mark.django_db
EXAMPLES = int(os.environ.get("PAIRRATE_FUZZ_EXAMPLES", "4"))
SEED = int(os.environ.get("PAIRRATE_FUZZ_SEED", "0"))


@pytest.fixture
def world(settings, tmp_path):
    settings.PAIRRATE_IMPORT_ROOTS = [tmp_path / "nothing-to-import"]  # the fuzzer may POST any path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    project = make_project(n_tasks=4, candidates=2, per_task=1, name="fuzzed")
    admin, annotator = make_user("boss", staff=True), make_user("ann")
    join(project, annotator)
    client = client_for(annotator)
    assert rate_all(client, next_task(client, project).json()).status_code == 200
    leased = next_task(client, project).json()
    run = ExportRun.objects.create(format="jsonl", created_by=admin)
    run.projects.set([project])
    ids = {
        "projects": project.pk,
        "assignments": leased["id"],
        "pair": PairResult.objects.first().pk,
        "exports": run.pk,
        "datasets": project.caption_datasets.get().pk,
        "spaces": project.space_id,
    }
    tokens = {user.username: Token.objects.get_or_create(user=user)[0].key for user in (admin, annotator)}
    return ids, tokens


def _clean_up():
    """Launches and exports the fuzzer started went to the broker (nothing here runs them); its
    failed logins are in the cache, where they would throttle later tests' logins."""
    from django.core.cache import cache

    from tasks.celery_app import app

    app.control.purge()
    cache.clear()


@pytest.mark.timeout(900)  # about a minute on an idle 2-core machine; several on a loaded one
def test_fuzz_whole_schema_as_annotator_then_admin(world):
    ids, tokens = world
    reports = []
    with in_test_transaction():
        try:
            for role, username in (("annotator", "ann"), ("admin", "boss")):
                reports.append(fuzz(role, tokens[username], ids, EXAMPLES, seed=SEED))
        finally:
            _clean_up()
    for report in reports:
        print(report.summary())
    if os.environ.get("PAIRRATE_FUZZ_REPORT"):
        with open(os.environ["PAIRRATE_FUZZ_REPORT"], "w") as out:
            json.dump(
                [
                    {
                        "role": r.role,
                        "operations": r.operations,
                        "requests": r.requests,
                        "seconds": r.seconds,
                        "unsent": r.unsent,
                        "statuses": dict(r.statuses),
                        "failures": r.failures,
                    }
                    for r in reports
                ],
                out,
                indent=1,
            )
    failures = [f for r in reports for f in r.failures]
    assert all(r.operations > 30 and r.requests > r.operations for r in reports)
    assert not [code for r in reports for code in r.statuses if code >= 500]
    assert not failures, "\n".join(failures[:40])
