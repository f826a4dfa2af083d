"""The E-MM1 release layout: `infos/{text,image,video,audio,points}.csv`.

Media columns: `encord_{modality}_id, source_dataset, dataset_license, file_name,
save_folder`, plus `youtube_id, start_time, end_time` (video, audio) or `file_id`
(points). `text.csv` has `encord_text_id` and `caption`, and may name the caption's
paired item with `paired_modality, encord_paired_id`. The release ships no media, so
media default to "remote": `save_folder/file_name` relative to MEDIA_ROOT. Optional
`pairrate.json` beside `infos/` adds embeddings, as in a pairrate bundle.
"""
from __future__ import annotations

from pathlib import Path

from .bundle import (
    MANIFEST,
    ParsedBundle,
    _text,
    add_caption,
    add_item,
    check_unique_ids,
    empty_bundle,
    read_manifest,
    require_columns,
)
from .errors import ErrorCollector
from .tables import Table, read_table

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
PAIRED_MODALITY_NAMES = {"image": "image", "video": "video", "audio": "audio",
                         "points": "point_cloud", "point_cloud": "point_cloud"}


def parse_emm1(root: Path, dataset: str | None, media_mode: str | None) -> ParsedBundle:
    manifest = read_manifest(root) if (root / MANIFEST).is_file() else {}
    errors = ErrorCollector()
    bundle = empty_bundle(root, manifest, dataset or manifest.get("dataset") or root.name,
                          media_mode or manifest.get("media", "remote"), "E-MM1 layout", errors)
    for stem, modality in MEDIA_FILES.items():
        path = root / "infos" / f"{stem}.csv"
        if path.is_file():
            _add_media_table(bundle, read_table(path, f"infos/{stem}.csv"), stem, modality, errors)
    text_path = root / "infos" / "text.csv"
    if text_path.is_file():
        _add_text_table(bundle, read_table(text_path, "infos/text.csv"), errors)
    errors.raise_if_any()
    return bundle


def _add_media_table(bundle: ParsedBundle, table: Table, stem: str, modality: str,
                     errors: ErrorCollector) -> None:
    id_column = f"encord_{stem}_id"
    required = (id_column, *BASE_COLUMNS, *EXTRA_COLUMNS[stem])
    if not require_columns(table, required, errors):
        return
    ids = [_text(v) for v in table.column(id_column)]
    check_unique_ids(table, ids, id_column, errors)
    folders, files = table.column("save_folder"), table.column("file_name")
    for index in range(len(table)):
        folder, file_name = _text(folders[index]), _text(files[index])
        media = f"{folder.rstrip('/')}/{file_name}" if folder else file_name
        # Keep every release column so an E-MM1 export can write the same files back.
        metadata = {c: _text(table.columns[c][index]) for c in (*BASE_COLUMNS[2:], *EXTRA_COLUMNS[stem])}
        add_item(bundle, table, index, ids[index], modality, media, "file_name",
                 _text(table.columns["source_dataset"][index]),
                 _text(table.columns["dataset_license"][index]), metadata, errors)
        if errors.full:
            return


def _add_text_table(bundle: ParsedBundle, table: Table, errors: ErrorCollector) -> None:
    if not require_columns(table, ("encord_text_id", "caption"), errors):
        return
    ids = [_text(v) for v in table.column("encord_text_id")]
    check_unique_ids(table, ids, "encord_text_id", errors)
    captions = table.column("caption")
    paired_modality, paired_id = table.column("paired_modality"), table.column("encord_paired_id")
    sources, licenses = table.column("source_dataset"), table.column("dataset_license")
    for index in range(len(table)):
        modality = PAIRED_MODALITY_NAMES.get(_text(paired_modality[index]), "")
        add_caption(bundle, table, index, ids[index], captions[index], "caption", modality,
                    _text(paired_id[index]), _text(sources[index]), _text(licenses[index]), {}, errors)
        if errors.full:
            return
