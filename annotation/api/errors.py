"""One error shape for the whole API: `{"code", "detail", "fields"?, "field"?}`.

`Refusal` is the refusal a view raises (code, message, HTTP status, optional field errors);
`exception_handler` (REST_FRAMEWORK['EXCEPTION_HANDLER']) renders it, DRF's own errors
(validation, authentication, permission, throttling, 404, 405, parse errors) and the domain
refusals (WorkflowError, LaunchError, ExportRequestError) in that one shape. Anything else is
a bug and stays a 500. Messages are cut to MAX_MESSAGE characters: no error echoes unbounded input.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

MAX_MESSAGE = 300
MAX_FIELDS = 50


class Refusal(exceptions.APIException):
    """A refusal with a stable machine-readable `code`, a message, a status and field errors."""

    def __init__(self, code: str, detail: str, status: int = 400, fields: dict | None = None, field: str | None = None):
        super().__init__(detail, code)
        self.code, self.message, self.status_code = code, detail, status
        self.fields, self.field = fields or {}, field


class ErrorSerializer(serializers.Serializer):
    """The documented error body (every 4xx of the API)."""

    code = serializers.CharField(help_text="stable machine-readable code, e.g. `lease_expired`, `invalid`")
    detail = serializers.CharField(help_text="a human-readable message")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="field errors: dotted field name -> messages",
    )
    field = serializers.CharField(required=False, help_text="the one field at fault (exports)")


def path_id(value, what: str) -> int:
    """An id from the URL as the database can hold it (1..2**63-1), else 404 `not_found`:
    raw SQL with 2**63 failed with "bigint out of range"."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 0 < number < 2**63:
        raise Refusal("not_found", f"no such {what}", 404)
    return number


def _cut(text) -> str:
    text = str(text)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


def _flatten(detail, prefix: str, out: dict[str, list[str]]) -> None:
    """DRF's nested error detail as {"pairs.1.candidate": ["..."]}."""
    if len(out) >= MAX_FIELDS:
        return
    if isinstance(detail, dict):
        for key, value in detail.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(detail, list) and any(isinstance(v, (dict, list)) for v in detail):
        for index, value in enumerate(detail):
            if value:
                _flatten(value, f"{prefix}.{index}" if prefix else str(index), out)
    else:
        messages = detail if isinstance(detail, list) else [detail]
        out.setdefault(prefix or "non_field_errors", []).extend(_cut(m) for m in messages[:10])


def error_body(code: str, detail, fields: dict | None = None, field: str | None = None) -> dict:
    body = {"code": code, "detail": _cut(detail)}
    if fields:
        body["fields"] = {_cut(k): [_cut(m) for m in v] for k, v in list(fields.items())[:MAX_FIELDS]}
    if field:
        body["field"] = _cut(field)
    return body


def _validation_body(exc: exceptions.ValidationError) -> dict:
    fields: dict[str, list[str]] = {}
    _flatten(exc.detail, "", fields)
    general = fields.get("non_field_errors")
    if general and len(fields) == 1:
        return error_body("invalid", general[0], fields)
    name, messages = next(((k, v) for k, v in fields.items() if k != "non_field_errors"), ("", ["invalid input"]))
    return error_body("invalid", f"{name}: {messages[0]}" if name else messages[0], fields)


def _domain_refusal(exc) -> Refusal | None:
    """The domain modules' own refusals, as Refusal (they stay free of DRF)."""
    from ..rating.exceptions import WorkflowError
    from ..export import ExportRequestError
    from ..pipeline.runner import LaunchError

    if isinstance(exc, WorkflowError):
        return Refusal(exc.code, exc.detail, exc.status)
    if isinstance(exc, LaunchError):
        return Refusal(exc.code, exc.message, 400 if exc.fields else 409, exc.fields)
    if isinstance(exc, ExportRequestError):
        code = "unknown_project" if exc.status == 404 else "invalid_export"
        return Refusal(code, exc.message, exc.status, {exc.field: [exc.message]}, exc.field)
    return None


def exception_handler(exc, context):
    """REST_FRAMEWORK['EXCEPTION_HANDLER']: every handled error in the one shape."""
    refusal = _domain_refusal(exc)
    if refusal is not None:
        exc = refusal
    response = drf_exception_handler(exc, context)  # status, WWW-Authenticate, Retry-After, rollback
    if response is None:
        return None
    if isinstance(exc, Refusal):
        response.data = error_body(exc.code, exc.message, exc.fields, exc.field)
    elif isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc)
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        code = getattr(detail, "code", None) or getattr(exc, "default_code", None) or "error"
        if code == "invalid" and response.status_code == 404:
            code = "not_found"
        response.data = error_body(str(code), detail)
    set_rollback()
    return response


@csrf_exempt
def not_found(request, exception=None, **kwargs):
    """JSON 404 for paths under /api/ that match no route (non-integer ids, typos)."""
    return JsonResponse(error_body("not_found", "no such API path"), status=404)
