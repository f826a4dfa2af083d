"""Exports of rated pairs (docs/formats.md, "Exports"): filters, formats, atomic files, runs."""

from .filters import ExportFilters, FilterError, parse_filters
from .formats import FORMATS
from .runs import ExportRequestError, create_run, execute_run

__all__ = [
    "FORMATS",
    "ExportFilters",
    "ExportRequestError",
    "FilterError",
    "create_run",
    "execute_run",
    "parse_filters",
]
