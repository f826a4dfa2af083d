"""Which layout a bundle folder is, and the parser that reads it.

Two layouts end as the same `ParsedBundle`: the E-MM1 release (an `infos/` folder,
emm1.py) and pairrate's own bundle (a `pairrate.json` manifest, bundle.py). `infos/` wins
when both are present, because there the manifest may only add embeddings. The choice is
made here, once, so neither parser needs to know about the other.
"""

from __future__ import annotations

import os
from pathlib import Path

from .bundle import parse_manifest_bundle
from .emm1 import INFOS, parse_emm1
from .errors import BundleError, RowError
from .manifest import MANIFEST
from .rows import ParsedBundle

EMM1 = "emm1"
PAIRRATE = "pairrate"
PARSERS = {EMM1: parse_emm1, PAIRRATE: parse_manifest_bundle}


def parse_bundle(root: Path, dataset: str | None = None, media_mode: str | None = None) -> ParsedBundle:
    """Read and validate everything; raise BundleError listing every problem found."""
    shown = str(root)
    root = Path(os.path.realpath(root))  # every bundle path is confined to this folder
    return PARSERS[detect_layout(root, shown)](root, dataset, media_mode)


def detect_layout(root: Path, shown: str) -> str:
    """EMM1 or PAIRRATE for the (resolved) folder `root`; a BundleError naming `shown`, the
    path as the user gave it, when it is neither."""
    if not root.is_dir():
        raise BundleError([RowError(shown, None, None, "bundle directory not found")])
    if os.path.lexists(root / INFOS):
        return EMM1
    if os.path.lexists(root / MANIFEST):
        return PAIRRATE
    raise BundleError([RowError(shown, None, None, f"neither a {MANIFEST} manifest nor an E-MM1 {INFOS}/ folder")])
