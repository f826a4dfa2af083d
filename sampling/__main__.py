"""`python -m sampling <subcommand>`: each subcommand lives in sampling/cli_<name>.py.

A subcommand module exposes `register(subparsers)`, which adds its parser and sets
`func` (called with the parsed args, returns an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sampling.allocator import keep_freed_memory

SUBCOMMANDS = ("curate", "nsfw", "match", "dedup", "render")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sampling", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"sampling.cli_{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # before any data is read (sampling.allocator)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
