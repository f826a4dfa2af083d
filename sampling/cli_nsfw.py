"""`python -m sampling nsfw`: score captions per category (sexual, profanity, hate,
violence_graphic) and flag which to keep."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sampling.progress import add_progress_flag, progress_bar

DESCRIPTION = """\
Score captions for explicit content and decide which to keep.

Scores come per category: sexual (explicit sex, nudity, pornography), profanity
(swearing, insults), hate (slurs, hateful slogans), violence_graphic (gore, graphic
killing). A caption is dropped (keep=false) when any thresholded score is strictly
above its threshold. Every category the backend scores is thresholded at
--default-threshold unless --threshold overrides it (set it to 1 to ignore a
category); --threshold also accepts a backend's own labels (e.g. toxicity).

Backends:
  lexicon    the built-in explicit-content lexicon with context rules (all four
             categories); no model files needed (default when no --checkpoint is given).
  profanity  alt-profanity-check, label 'profanity' (swearing only).
  detoxify   a Detoxify checkpoint (.ckpt with 'config' and 'state_dict'), run offline:
             --config-dir must hold the matching Hugging Face config.json and tokenizer
             files (e.g. vocab.txt), which replace the hub name stored in the
             checkpoint. Labels come from the checkpoint, e.g. toxicity,
             severe_toxicity, obscene, identity_attack, insult, threat,
             sexual_explicit for the 'unbiased' model, mapped onto the categories:
             sexual_explicit -> sexual; obscene, insult, toxicity, severe_toxicity
             -> profanity; identity_attack -> hate; threat -> violence_graphic
             (a category's score is the highest of its labels).

Input:
  .jsonl  one JSON object per line; the caption is in --field (default 'text'); the
          value of --id-field (default 'id'), when present, is copied to the output.
  .txt    one caption per line.
  Blank lines are skipped; 'line' in the output is the 1-based input line number.

Output (by extension):
  .jsonl  {"line": 1, "id": ..., "scores": {"<category or label>": 0.01, ...},
          "keep": true, "reason": ""} per caption; reason says which thresholds a
          dropped caption exceeds (and, for the lexicon, the words that matched).
  .npz    arrays 'line', 'keep', one float32 array per category and label, and 'id'
          when every input record has one.

Exit status: 0 on success, 2 on bad input or scorer configuration.
"""

EPILOG = """\
examples:
  python -m sampling nsfw captions.txt -o scores.jsonl
  python -m sampling nsfw pairs.jsonl --field caption -o scores.npz --threshold sexual=0.3 \
      --threshold profanity=1
  python -m sampling nsfw pairs.jsonl -o scores.jsonl --backend detoxify \\
      --checkpoint models/toxic_debiased.ckpt --config-dir models/roberta-base \\
      --threshold sexual=0.4 --threshold toxicity=0.7 --batch-size 32
"""


class InputError(ValueError):
    """The captions file cannot be read as described in --help."""


PARSER_OPTIONS = dict(description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "nsfw", help="score captions for explicit content and flag which to keep", **PARSER_OPTIONS
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sampling.nsfw import BACKENDS, DEFAULT_THRESHOLD

    parser.add_argument("input", type=Path, help="captions: .jsonl or .txt")
    parser.add_argument("-o", "--output", type=Path, required=True, help="scores: .jsonl or .npz")
    parser.add_argument("--field", default="text", help="JSONL key holding the caption (default: text)")
    parser.add_argument("--id-field", default="id", help="JSONL key copied to the output when present (default: id)")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="scorer (default: detoxify if --checkpoint is given, else lexicon)",
    )
    parser.add_argument("--checkpoint", type=Path, help="Detoxify checkpoint file (.ckpt)")
    parser.add_argument(
        "--config-dir",
        type=Path,
        help="local Hugging Face directory with config.json and tokenizer files for --checkpoint",
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="LABEL=VALUE",
        help="drop captions whose LABEL score is above VALUE (repeatable)",
    )
    parser.add_argument(
        "--default-threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"threshold for categories without --threshold (default: {DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="captions per model call (default: 64 for detoxify, 4096 for profanity, 65536 for lexicon)",
    )
    parser.add_argument("--device", default=None, help="torch device for detoxify: cpu, cuda, cuda:1 (default: auto)")
    add_progress_flag(parser)


def parse_thresholds(items: list[str]) -> dict[str, float]:
    thresholds = {}
    for item in items:
        label, sep, value = item.partition("=")
        try:
            if not sep or not label:
                raise ValueError
            thresholds[label.strip()] = float(value)
        except ValueError:
            raise InputError(f"--threshold expects LABEL=VALUE, got {item!r}") from None
    return thresholds


def read_captions(path: Path, field: str, id_field: str) -> tuple[list[int], list[str], list]:
    """-> (1-based line numbers, captions, ids or None per caption)."""
    if path.suffix.lower() not in (".jsonl", ".txt"):
        raise InputError(f"{path}: input must be .jsonl or .txt")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    numbers, texts, ids = [], [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if path.suffix.lower() == ".txt":
            numbers.append(number)
            texts.append(line)
            ids.append(None)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: invalid JSON ({exc})") from exc
        if not isinstance(record, dict) or not isinstance(record.get(field), str):
            raise InputError(f"{path}:{number}: no string field {field!r}")
        numbers.append(number)
        texts.append(record[field])
        ids.append(record.get(id_field))
    return numbers, texts, ids


def write_scores(path: Path, numbers, ids, scores: dict[str, np.ndarray], keep: np.ndarray, reasons: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npz":
        arrays = {"line": np.asarray(numbers, dtype=np.int64), "keep": keep, **scores}
        if ids and all(i is not None for i in ids):
            arrays["id"] = np.asarray([str(i) for i in ids])
        np.savez(path, **arrays)
        return
    with path.open("w", encoding="utf-8") as out:
        for k, number in enumerate(numbers):
            row = {"line": number}
            if ids[k] is not None:
                row["id"] = ids[k]
            row["scores"] = {label: round(float(values[k]), 6) for label, values in scores.items()}
            row["keep"] = bool(keep[k])
            row["reason"] = reasons[k]
            out.write(json.dumps(row) + "\n")


def run(args: argparse.Namespace) -> int:
    from sampling.nsfw import (
        ScorerConfigError,
        default_thresholds,
        drop_reasons,
        filter_mask,
        load_scorer,
        scorer_categories,
        with_categories,
    )

    try:
        if args.output.suffix.lower() not in (".jsonl", ".npz"):
            raise InputError(f"{args.output}: output must be .jsonl or .npz")
        if args.batch_size is not None and args.batch_size < 1:
            raise InputError("--batch-size must be >= 1")
        overrides = parse_thresholds(args.threshold)
        numbers, texts, ids = read_captions(args.input, args.field, args.id_field)
        scorer = load_scorer(args.backend, checkpoint=args.checkpoint, config_dir=args.config_dir, device=args.device)
        thresholds = {**default_thresholds(scorer_categories(scorer.labels), args.default_threshold), **overrides}
        batch_size = scorer.default_batch_size if args.batch_size is None else args.batch_size
        chunk = batch_size * 8
        parts: dict[str, list[np.ndarray]] = {label: [] for label in scorer.labels}
        with progress_bar(len(texts), "nsfw", not args.no_progress, unit="captions") as advance:
            for start in range(0, len(texts), chunk):
                for label, values in scorer.score(texts[start : start + chunk], batch_size).items():
                    parts[label].append(values)
                advance(min(chunk, len(texts) - start))
        scores = with_categories(
            {label: np.concatenate(v) if v else np.zeros(0, np.float32) for label, v in parts.items()}
        )
        keep = filter_mask(scores, thresholds)
        explain = getattr(scorer, "explain", None)
        dropped = np.flatnonzero(~keep)
        matches = [[] for _ in texts]
        if explain is not None and len(dropped):
            for i, found in zip(dropped, explain([texts[i] for i in dropped])):
                matches[i] = found
        reasons = drop_reasons(scores, thresholds, matches if explain is not None else None)
    except (InputError, ScorerConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_scores(args.output, numbers, ids, scores, keep, reasons)
    print(f"{len(texts)} captions scored, {int(keep.sum())} kept -> {args.output}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run without the other subcommands: `python -m sampling.cli_nsfw ...`."""
    parser = argparse.ArgumentParser(prog="python -m sampling nsfw", **PARSER_OPTIONS)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
