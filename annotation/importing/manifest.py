"""The `pairrate.json` manifest: dataset name, media mode and embeddings.

Both layouts read it: it describes a pairrate bundle (bundle.py), and beside an E-MM1
`infos/` folder (emm1.py) it adds embeddings and may set dataset, description and media.
See docs/formats.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..models.datasets import MEDIA_MODALITIES
from .errors import BundleError, ErrorCollector, RowError
from .rows import CaptionRows, EmbeddingSpec, ItemRows, ParsedBundle, VectorFile, bundle_path

MANIFEST = "pairrate.json"
MEDIA_MODES = ("local", "remote")
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


def empty_bundle(
    root: Path, manifest: dict, name: str, mode: str, description: str, errors: ErrorCollector
) -> ParsedBundle:
    """Check the dataset name and media mode (raising at once if wrong), read the
    manifest's embedding specs, and return a bundle ready for rows."""
    check_dataset_name(name, errors)
    check_media_mode(mode, errors)
    errors.raise_if_any()
    return ParsedBundle(
        root=root,
        dataset=name,
        description=str(manifest.get("description", description)),
        media_mode=mode,
        items=ItemRows(),
        captions=CaptionRows(),
        embeddings=parse_embedding_specs(root, manifest.get("embeddings", []), MANIFEST, errors),
    )


def read_manifest(root: Path) -> dict:
    errors = ErrorCollector()
    path = bundle_path(root, MANIFEST, errors, MANIFEST, None, None)
    errors.raise_if_any()
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(
            [RowError(MANIFEST, getattr(exc, "lineno", None), None, f"invalid JSON manifest: {exc}")]
        ) from None
    if not isinstance(manifest, dict):
        raise BundleError([RowError(MANIFEST, None, None, "the manifest must be a JSON object")])
    return manifest


def check_dataset_name(name: str, errors: ErrorCollector) -> None:
    if not name or not SLUG.match(name) or len(name) > 100:
        errors.add(MANIFEST, None, "dataset", f"dataset name {name!r} must be 1-100 letters, digits, '-' or '_'")


def check_media_mode(mode: str, errors: ErrorCollector) -> None:
    if mode not in MEDIA_MODES:
        errors.add(MANIFEST, None, "media", f"media must be one of {MEDIA_MODES}, not {mode!r}")


def parse_embedding_specs(root: Path, entries, source: str, errors: ErrorCollector) -> list[EmbeddingSpec]:
    specs = []
    if not isinstance(entries, list):
        errors.add(source, None, "embeddings", "must be a list")
        return specs
    for index, entry in enumerate(entries):
        where = f"embeddings[{index}]"
        if not isinstance(entry, dict):
            errors.add(source, None, where, "must be an object")
            continue
        missing = [k for k in ("space", "model", "dim", "target_modality") if k not in entry]
        if missing:
            errors.add(source, None, f"{where}.{missing[0]}", "missing")
            continue
        if not SLUG.match(str(entry["space"])):
            errors.add(source, None, f"{where}.space", f"space name {entry['space']!r} is not a slug")
        if not isinstance(entry["dim"], int) or entry["dim"] <= 0:
            errors.add(source, None, f"{where}.dim", f"dim must be a positive integer, not {entry['dim']!r}")
        if entry["target_modality"] not in MEDIA_MODALITIES:
            errors.add(
                source,
                None,
                f"{where}.target_modality",
                f"unknown modality {entry['target_modality']!r}; expected one of {MEDIA_MODALITIES}",
            )
        files = {}
        for side in ("captions", "items"):
            spec = entry.get(side)
            if spec is None:
                files[side] = None
                continue
            if not isinstance(spec, dict) or not {"vectors", "ids"} <= set(spec):
                errors.add(source, None, f"{where}.{side}", "needs 'vectors' (.npy) and 'ids' (.txt)")
                files[side] = None
                continue
            paths = {
                key: bundle_path(root, spec[key], errors, source, None, f"{where}.{side}.{key}")
                for key in ("vectors", "ids")
            }
            if None in paths.values():
                files[side] = None
                continue
            files[side] = VectorFile(paths["vectors"], paths["ids"], spec["vectors"], spec["ids"])
            for path, shown in ((files[side].vectors, spec["vectors"]), (files[side].ids, spec["ids"])):
                if not path.is_file():
                    errors.add(shown, None, None, "file not found")
        specs.append(
            EmbeddingSpec(
                str(entry["space"]),
                str(entry["model"]),
                entry["dim"],
                entry["target_modality"],
                files["captions"],
                files["items"],
            )
        )
    return specs
