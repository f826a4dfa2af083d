"""The API's JSON parser: DRF's, with limits on size, nesting and number range.

Python's json module recurses once per nesting level, so a body of 100,000 `[` raised
RecursionError (a 500) before any view ran, on every JSON endpoint, login included.
Bodies deeper than MAX_DEPTH, larger than DATA_UPLOAD_MAX_MEMORY_SIZE, or holding a number
too large for a float (`1e999`, which Python reads as infinity) are a 400 `parse_error`.
"""

from __future__ import annotations

import codecs
import json
import math

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

MAX_DEPTH = 32


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]!r} is out of range")
    return value


def depth_exceeds(value, limit: int) -> bool:
    """Whether lists/dicts nest more than `limit` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return False


class LimitedJSONParser(JSONParser):
    max_depth = MAX_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise ParseError(f"JSON body larger than {limit} bytes")
        try:
            text = codecs.decode(raw, encoding)
            data = json.loads(text, parse_constant=strict_constant, parse_float=_finite)
        except RecursionError:
            raise ParseError(f"JSON nested more than {self.max_depth} levels") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {str(exc)[:200]}") from None
        if depth_exceeds(data, self.max_depth):
            raise ParseError(f"JSON nested more than {self.max_depth} levels")
        return data
