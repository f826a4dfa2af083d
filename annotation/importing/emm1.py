"""The E-MM1 release layout: `infos/{text,image,video,audio,points}.csv`.

Media columns: `encord_{modality}_id, source_dataset, dataset_license, file_name,
save_folder`, plus `youtube_id, start_time, end_time` (video, audio) or `file_id`
(points). `text.csv` has `encord_text_id` and `caption`, and may name the caption's
paired item with `paired_modality, encord_paired_id`. The release ships no media, so
media default to "remote": `save_folder/file_name` relative to MEDIA_ROOT. A
`pairrate.json` beside `infos/` adds embeddings (and may set dataset, description, media),
as in a pairrate bundle; `.npy` files that no manifest names are refused, not skipped.
layout.py sends a folder here when it has `infos/`; the rules shared with pairrate's own
layout are in rows.py and manifest.py, so this module never imports bundle.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import BundleError, ErrorCollector, RowError
from .manifest import MANIFEST, empty_bundle, read_manifest
from .rows import (
    ParsedBundle,
    add_caption,
    add_item,
    bundle_path,
    cell_text,
    check_time_ranges,
    check_unique_ids,
    require_columns,
)
from .tables import Table, read_table

# The folder that makes a directory an E-MM1 release (layout.py).
INFOS = "infos"
# E-MM1 file stem -> pairrate modality
MEDIA_FILES = {"image": "image", "video": "video", "audio": "audio", "points": "point_cloud"}
BASE_COLUMNS = ("source_dataset", "dataset_license", "file_name", "save_folder")
EXTRA_COLUMNS = {
    "image": (),
    "video": ("youtube_id", "start_time", "end_time"),
    "audio": ("youtube_id", "start_time", "end_time"),
    "points": ("file_id",),
}
# Where a caption's source dataset tells its modality when no paired item does.
PAIRED_MODALITY_NAMES = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "points": "point_cloud",
    "point_cloud": "point_cloud",
}


# Manifest keys that describe a pairrate bundle's own tables: beside infos/ they would
# be a second, conflicting description of the rows.
TABLE_KEYS = ("items", "captions")


def parse_emm1(root: Path, dataset: str | None, media_mode: str | None) -> ParsedBundle:
    """The release's tables as rows, plus the embeddings a `pairrate.json` beside them names."""
    manifest = read_manifest(root) if os.path.lexists(root / MANIFEST) else {}
    conflicting = [key for key in TABLE_KEYS if manifest.get(key)]
    if conflicting:
        raise BundleError(
            [
                RowError(
                    MANIFEST,
                    None,
                    key,
                    "an E-MM1 infos/ folder is present: its tables are the rows, so "
                    "the manifest beside it may only add embeddings (remove this key "
                    "or the infos/ folder)",
                )
                for key in conflicting
            ]
        )
    errors = ErrorCollector()
    bundle = empty_bundle(
        root,
        manifest,
        dataset or manifest.get("dataset") or root.name,
        media_mode or manifest.get("media", "remote"),
        "E-MM1 layout",
        errors,
    )
    for stem in (*MEDIA_FILES, "text"):
        shown = f"{INFOS}/{stem}.csv"
        if not os.path.lexists(root / shown):
            continue
        path = bundle_path(root, shown, errors, shown, None, None)
        if path is None:
            continue
        if stem == "text":
            _add_text_table(bundle, read_table(path, shown), errors)
        else:
            _add_media_table(bundle, read_table(path, shown), stem, MEDIA_FILES[stem], errors)
    _refuse_unnamed_vectors(bundle, errors)
    errors.raise_if_any()
    return bundle


def _refuse_unnamed_vectors(bundle: ParsedBundle, errors: ErrorCollector) -> None:
    """`.npy` files at the top or under embeddings/ that no manifest entry names: vectors the
    user expects to be imported. Refused with the fix, never skipped silently."""
    named = {f.vectors for spec in bundle.embeddings for f in (spec.captions, spec.items) if f}
    named |= {source for source, _ in bundle.media_files}
    candidates = list(bundle.root.glob("*.npy"))
    if (bundle.root / "embeddings").is_dir():
        candidates += sorted((bundle.root / "embeddings").rglob("*.npy"))
    for path in candidates:
        if Path(os.path.realpath(path)) not in named:
            errors.add(
                str(path.relative_to(bundle.root)),
                None,
                None,
                f"vectors that no {MANIFEST} 'embeddings' entry names; add a {MANIFEST} beside "
                "infos/ with an entry for them (docs/formats.md) or remove the file",
            )


def _add_media_table(bundle: ParsedBundle, table: Table, stem: str, modality: str, errors: ErrorCollector) -> None:
    id_column = f"encord_{stem}_id"
    required = (id_column, *BASE_COLUMNS, *EXTRA_COLUMNS[stem])
    if not require_columns(table, required, errors):
        return
    ids = [cell_text(v) for v in table.column(id_column)]
    check_unique_ids(table, ids, id_column, errors)
    check_time_ranges(table, errors)
    bundle.items.carried |= {"media", "source_dataset", "license", "metadata"}  # all required columns
    folders, files = table.column("save_folder"), table.column("file_name")
    for index in range(len(table)):
        folder, file_name = cell_text(folders[index]), cell_text(files[index])
        media = f"{folder.rstrip('/')}/{file_name}" if folder else file_name
        # Keep every release column so an E-MM1 export can write the same files back.
        metadata = {c: cell_text(table.columns[c][index]) for c in (*BASE_COLUMNS[2:], *EXTRA_COLUMNS[stem])}
        add_item(
            bundle,
            table,
            index,
            ids[index],
            modality,
            media,
            "file_name",
            cell_text(table.columns["source_dataset"][index]),
            cell_text(table.columns["dataset_license"][index]),
            metadata,
            errors,
        )
        if errors.full:
            return


def _add_text_table(bundle: ParsedBundle, table: Table, errors: ErrorCollector) -> None:
    if not require_columns(table, ("encord_text_id", "caption"), errors):
        return
    ids = [cell_text(v) for v in table.column("encord_text_id")]
    check_unique_ids(table, ids, "encord_text_id", errors)
    present = {
        "paired_modality": "source_modality",
        "encord_paired_id": "paired_item",
        "source_dataset": "source_dataset",
        "dataset_license": "license",
    }
    bundle.captions.carried |= {field for column, field in present.items() if column in table.columns}
    captions = table.column("caption")
    paired_modality, paired_id = table.column("paired_modality"), table.column("encord_paired_id")
    sources, licenses = table.column("source_dataset"), table.column("dataset_license")
    for index in range(len(table)):
        modality = PAIRED_MODALITY_NAMES.get(cell_text(paired_modality[index]), "")
        add_caption(
            bundle,
            table,
            index,
            ids[index],
            captions[index],
            "caption",
            modality,
            cell_text(paired_id[index]),
            cell_text(sources[index]),
            cell_text(licenses[index]),
            {},
            errors,
        )
        if errors.full:
            return
