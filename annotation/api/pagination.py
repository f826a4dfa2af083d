"""Pagination of every list: `?limit=&offset=`, with a ceiling on `limit`.

Without one, `limit=9223372036854775808` reached SQL ("bigint out of range", a 500);
now a `limit` above MAX_LIMIT is clamped to it (DRF's rule), and an `offset` past the end
gives an empty page without a query.
"""

from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 1000


class Pagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT
