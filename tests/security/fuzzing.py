"""Fuzzing the whole OpenAPI schema with schemathesis, in-process through Django's WSGI app.

Used by tests/security/test_fuzz.py (a bounded run) and bench/fuzz_api.py (a longer one).
Every operation gets `examples` generated requests (hypothesis, positive and negative data);
an operation with ids in its path is called a second time with the ids of real objects, so
bodies reach the views' code and not only their 404. Checked on every response: no 5xx, the
status code is documented, and the content type, headers and body conform to the schema.
"""

from __future__ import annotations

import collections
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


@dataclass
class FuzzReport:
    role: str
    operations: int = 0
    requests: int = 0
    seconds: float = 0.0
    unsent: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        top = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{self.role}: {self.operations} operations, {self.requests} requests in {self.seconds:.1f} s "
            f"({self.unsent} bodies not encodable), {len(self.failures)} failures; statuses {top}"
        )


@contextmanager
def in_test_transaction():
    """Django's WSGI handler closes the connection after each request, as a server should; the
    test client stops that (the test's data lives in an open transaction), and so do we."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def load_schema():
    import schemathesis
    from django.core.handlers.wsgi import WSGIHandler

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())


def _checks():
    from schemathesis import checks as core
    from schemathesis.openapi import checks as openapi

    return [getattr(core, name, None) or getattr(openapi, name) for name in CHECK_NAMES]


def _with_real_ids(case, real_ids: dict[str, int]):
    """The same case with each path id replaced by a real object's id (by the path's resource)."""
    if not case.path_parameters:
        return None
    resource = re.match(r"/api/([a-z_]+)/", case.operation.path)
    params = dict(case.path_parameters)
    for name in params:
        key = "pair" if name == "pair_id" else "projects" if name == "project_id" else resource[1] if resource else ""
        if key in real_ids:
            params[name] = real_ids[key]
    if params == case.path_parameters:
        return None
    case.path_parameters = params
    return case


def fuzz(
    role: str, token: str, real_ids: dict[str, int], examples: int, seed: int = 0, skip: tuple[str, ...] = ()
) -> FuzzReport:
    """Run every operation of the schema `examples` times with `token`; collect failures."""
    from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings
    from schemathesis import GenerationMode
    from schemathesis.core.errors import SerializationError
    from schemathesis.core.failures import FailureGroup

    schema = load_schema()
    report = FuzzReport(role)
    checks = _checks()
    headers = {"Authorization": f"Token {token}"}
    started = time.perf_counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in skip:
            continue
        report.operations += 1

        def call(case):
            try:
                response = case.call(headers=headers)
            except SerializationError:  # a body schemathesis cannot encode in the chosen media type
                report.unsent += 1
                return
            except Exception as exc:  # recorded, not raised: hypothesis would call a replay "flaky"
                report.failures.append(f"{role} {label}: request raised {type(exc).__name__}: {str(exc)[:300]}")
                return
            report.requests += 1
            report.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except (AssertionError, FailureGroup) as exc:
                first = str(exc).strip().splitlines()[:6]
                report.failures.append(f"{role} {label} -> {response.status_code}: " + " | ".join(first))

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis_seed(seed)
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
                derandomize=False,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                call(case)
                again = _with_real_ids(case, real_ids)
                if again is not None:
                    call(again)

            try:
                run()
            except Exception as exc:  # a generation error is a failure too, not a crash of the run
                report.failures.append(f"{role} {label} ({mode.value}): {type(exc).__name__}: {str(exc)[:300]}")
    report.seconds = time.perf_counter() - started
    return report
