"""Import errors that say where: file, line (or row) and column."""

from __future__ import annotations

from dataclasses import asdict, dataclass

MAX_REPORTED_ERRORS = 50


@dataclass(frozen=True)
class RowError:
    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return asdict(self)


class BundleError(Exception):
    """The bundle is invalid; nothing was written. Carries every error found (capped)."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors[:MAX_REPORTED_ERRORS]
        more = len(errors) - len(self.errors)
        summary = "; ".join(str(e) for e in self.errors[:5])
        if len(self.errors) > 5 or more:
            summary += f" (and {len(errors) - 5} more)"
        super().__init__(summary)


class ErrorCollector:
    """Collects row errors and raises them together, so one run shows them all."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []

    def add(self, file: str, line: int | None, column: str | None, message: str) -> None:
        if len(self.errors) <= MAX_REPORTED_ERRORS:
            self.errors.append(RowError(file, line, column, message))

    @property
    def full(self) -> bool:
        return len(self.errors) > MAX_REPORTED_ERRORS

    def raise_if_any(self) -> None:
        if self.errors:
            raise BundleError(self.errors)
