"""The OpenAPI schema class: every operation documents the error statuses it can answer.

Each view declares its success responses and its own refusals (e.g. 409) with
@extend_schema; the statuses any operation may give (401/403 login and role, 404 an unknown
or hidden id, 405, 406, 429; 400/413/415 for a request body; 400 for a paginated list's
query) are added here, all with the one error body (annotation.api.errors.ErrorSerializer).
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse

from .errors import ErrorSerializer

COMMON = {
    401: "not logged in",
    403: "not allowed for your role",
    404: "no such object (or not yours to see)",
    405: "method not allowed",
    406: "cannot answer in the accepted media type",
    429: "too many requests (failed logins)",
}
WITH_BODY = {
    400: "invalid request body or parameters",
    413: "request body too large",
    415: "unsupported body media type",
}
BAD_QUERY = {400: "invalid query parameters"}


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        responses = (operation or {}).get("responses")
        if (
            responses is not None
            and "400" not in responses
            and any(p.get("in") == "query" for p in operation.get("parameters", []))
        ):
            responses["400"] = self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description=BAD_QUERY[400]), "400"
            )
        return operation

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        extra = dict(COMMON)
        if self.method in ("POST", "PUT", "PATCH"):
            extra.update(WITH_BODY)
        elif self._is_list_view() or self.get_filter_backends():
            extra.update(BAD_QUERY)
        for status, description in sorted(extra.items()):
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), str(status), direction=direction
                )
        return responses
