"""The rating workflow's refusals.

They stay free of DRF so the workflow runs outside a request (tests, the demo, benchmarks);
annotation/api/errors.py renders a WorkflowError as a Refusal with the same code, message and
status.
"""

from __future__ import annotations


class WorkflowError(Exception):
    """A refusal with a stable machine-readable `code` and an HTTP status."""

    def __init__(self, code: str, detail: str, status: int = 400):
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


class NotAMember(WorkflowError):
    """The caller has no membership row; the view decides between 404, 409 and this 403."""

    def __init__(self):
        super().__init__("not_a_member", "you are not an annotator of this project", 403)
