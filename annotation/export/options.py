"""Option rules the formats declare (formats.check_options applies them)."""

from __future__ import annotations

from dataclasses import dataclass


class OptionError(ValueError):
    pass


@dataclass(frozen=True)
class Count:
    """A whole number in [low, high]; digits as text (the command line's KEY=VALUE) are
    taken too and stored as a number."""

    low: int
    high: int

    def parse(self, key: str, value) -> int:
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise OptionError(f"{key} must be a whole number from {self.low} to {self.high}")
        return value
