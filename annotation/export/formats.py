"""The export formats by name, and their options checked before a run is created."""

from __future__ import annotations

from types import ModuleType

from . import csvtable, emm1, jsonl, pairs, parquet, zeroshot
from .options import Count, OptionError

FORMATS: dict[str, ModuleType] = {
    "jsonl": jsonl,
    "csv": csvtable,
    "parquet": parquet,
    "emm1": emm1,
    "pairs": pairs,
    "zeroshot": zeroshot,
}


def extension(name: str, options: dict) -> str:
    """The file name extension of a run: a format may pick it from its options."""
    module = FORMATS[name]
    return module.extension(options) if hasattr(module, "extension") else module.EXTENSION


def check_options(name: str, options: dict | None) -> dict:
    """Each format declares OPTIONS: name -> allowed values (a tuple), a type or a Count."""
    options = options or {}
    if not isinstance(options, dict):
        raise OptionError("must be a JSON object")
    options = dict(options)
    allowed = FORMATS[name].OPTIONS
    for key, value in options.items():
        if key not in allowed:
            raise OptionError(f"{key!r} is not an option of {name} ({', '.join(allowed) or 'none'})")
        rule = allowed[key]
        if isinstance(rule, tuple) and value not in rule:
            raise OptionError(f"{key} must be one of {', '.join(rule)}")
        if isinstance(rule, type) and (not isinstance(value, rule) or not value):
            raise OptionError(f"{key} must be a non-empty {rule.__name__}")
        if isinstance(rule, Count):
            options[key] = rule.parse(key, value)
    return options
