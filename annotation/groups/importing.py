"""Load groups from files: the E-MM1 100M layout, as a build of its own.

`nn_1/data_groups.csv ... nn_k/data_groups.csv` (the columns of export.CSV_COLUMNS,
in any order) name captions and items by external id (`encord_*_id`); they must
already be imported (e.g. the release's `infos/` through the E-MM1 import) into the
datasets given. A modality whose id column is empty in `nn_1` is absent; every other
row must name an item. Every nn file must list the same captions, once each. Errors
name the file, line and column; on any error nothing is stored. The imported build
(`source="imported"`, similarities NaN) has the same chunks and outputs as a built
one, so it can be downloaded, iterated and rated from.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from django.db import transaction
from django.utils import timezone

from ..importing.errors import BundleError, ErrorCollector, RowError
from ..models import Caption, Dataset, GroupsBuild, Item
from ..models.groups import GROUP_MODALITIES
from . import export, plan, store

NN_FOLDER = re.compile(r"^nn_(\d+)$")
ID_COLUMN = {m: f"encord_{export.STEM[m]}_id" for m in GROUP_MODALITIES}


def _vocabulary(queryset) -> tuple[pa.Array, np.ndarray]:
    """(external ids, database ids), the smallest database id for an external id seen twice."""
    rows = sorted(queryset.values_list("external_id", "pk"), key=lambda r: r[1], reverse=True)
    mapping = dict(rows)
    return pa.array(list(mapping), pa.string()), np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))


def _nn_files(root: Path, errors: ErrorCollector) -> list[Path]:
    folders = (
        {int(m.group(1)): p for p in root.iterdir() if p.is_dir() and (m := NN_FOLDER.match(p.name))}
        if root.is_dir()
        else {}
    )
    if not folders:
        errors.add(str(root.name), None, None, "no nn_1/data_groups.csv ... nn_k/data_groups.csv folders")
        return []
    k = max(folders)
    if sorted(folders) != list(range(1, k + 1)):
        missing = sorted(set(range(1, k + 1)) - set(folders))
        errors.add(f"nn_{missing[0]}", None, None, f"missing: the folders must be nn_1 ... nn_{k}")
    files = [folders[nn] / "data_groups.csv" for nn in sorted(folders)]
    for path in files:
        if not path.is_file():
            errors.add(f"{path.parent.name}/data_groups.csv", None, None, "file not found")
    return files


def _read(path: Path, name: str) -> pa.Table:
    try:
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in export.CSV_COLUMNS}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise BundleError([RowError(name, None, None, f"unreadable CSV: {exc}")]) from None


def _report(errors: ErrorCollector, name: str, bad: np.ndarray, column: str, message) -> None:
    for row in np.flatnonzero(bad)[:5].tolist():
        errors.add(name, row + 2, column, message(row))  # line 1 is the header


def read_groups(root: Path, datasets: list[Dataset]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(caption ids sorted [n], modality -> item ids [n, k]) or BundleError."""
    errors = ErrorCollector()
    files = _nn_files(root, errors)
    errors.raise_if_any()
    caption_ext, caption_db = _vocabulary(Caption.objects.filter(dataset__in=datasets))
    vocab = {m: _vocabulary(Item.objects.filter(dataset__in=datasets, modality=m)) for m in GROUP_MODALITIES}
    caption_ids, items, modalities = None, {}, None
    k = len(files)
    for nn, path in enumerate(files, start=1):
        name = f"nn_{nn}/data_groups.csv"
        table = _read(path, name)
        missing = [c for c in export.CSV_COLUMNS if c not in table.column_names]
        if missing:
            errors.add(name, 1, missing[0], f"missing column (the columns are {', '.join(export.CSV_COLUMNS)})")
            continue
        n = table.num_rows
        nn_index = table.column("nn_index").to_numpy(zero_copy_only=False)
        _report(errors, name, nn_index != str(nn), "nn_index", lambda r: f"nn_index must be {nn} in nn_{nn}/")
        texts = table.column("encord_text_id")
        positions = pc.index_in(texts, value_set=caption_ext)
        unknown = positions.is_null().to_numpy(zero_copy_only=False)
        _report(
            errors,
            name,
            unknown,
            "encord_text_id",
            lambda r: f"no caption {texts[r].as_py()[:60]!r} in {', '.join(d.name for d in datasets)}",
        )
        if unknown.any():
            continue
        ids = caption_db[positions.to_numpy(zero_copy_only=False)]
        order = np.argsort(ids, kind="stable")
        repeated = np.zeros(n, dtype=bool)
        repeated[order[1:][np.diff(ids[order]) == 0]] = True
        _report(errors, name, repeated, "encord_text_id", lambda r: "caption listed twice")
        if modalities is None:
            modalities = [m for m in GROUP_MODALITIES if pc.any(pc.not_equal(table.column(ID_COLUMN[m]), "")).as_py()]
            if not modalities:
                errors.add(name, None, None, "no item ids: every encord_*_id column is empty")
                break
            caption_ids = ids[order]
            items = {m: np.full((n, k), -1, dtype=np.int64) for m in modalities}
        elif len(ids) != len(caption_ids) or not (ids[order] == caption_ids).all():
            errors.add(name, None, "encord_text_id", "lists other captions than nn_1/data_groups.csv")
            continue
        for m in GROUP_MODALITIES:
            column = table.column(ID_COLUMN[m])
            empty = pc.equal(column, "").to_numpy(zero_copy_only=False)
            if m not in modalities:
                _report(errors, name, ~empty, ID_COLUMN[m], lambda r: f"nn_1 has no {m} ids, this row has one")
                continue
            _report(errors, name, empty, ID_COLUMN[m], lambda r: f"empty {m} id (nn_1 has {m} ids)")
            found = pc.index_in(column, value_set=vocab[m][0])
            unknown = found.is_null().to_numpy(zero_copy_only=False) & ~empty
            _report(
                errors,
                name,
                unknown,
                ID_COLUMN[m],
                lambda r, column=column, m=m: f"no {m} item {column[r].as_py()[:60]!r} in the datasets",
            )
            if not (unknown | empty).any():
                items[m][:, nn - 1] = vocab[m][1][found.to_numpy(zero_copy_only=False)][order]
        if errors.full:
            break
    errors.raise_if_any()
    return caption_ids, items


def import_groups(root: Path, datasets, name: str = "", user=None) -> GroupsBuild:
    """Read, check, and store an E-MM1 100M layout as a succeeded build (all or nothing)."""
    root = Path(root)
    rows = [
        Dataset.objects.filter(**({"pk": int(d)} if str(d).isdigit() else {"name": str(d)})).first() for d in datasets
    ]
    if not rows or None in rows:
        raise plan.GroupsRequestError(
            "invalid_groups",
            "name the datasets holding the captions and items",
            {
                "datasets": [f"no dataset {d!r}" for d, r in zip(datasets, rows) if r is None]
                or ["name at least one dataset"]
            },
        )
    caption_ids, items = read_groups(root, rows)
    caption_rows, item_rows = plan.chunk_rows()
    key = hashlib.sha256(f"imported:{root.resolve()}:{timezone.now().isoformat()}".encode()).hexdigest()
    with transaction.atomic():
        build = GroupsBuild.objects.create(
            name=name or root.name,
            source=GroupsBuild.Source.IMPORTED,
            pool_key=key,
            modalities=list(items),
            k=next(iter(items.values())).shape[1],
            caption_chunk_rows=caption_rows,
            item_chunk_rows=item_rows,
            state=GroupsBuild.State.RUNNING,
            started_at=timezone.now(),
            created_by=user if getattr(user, "pk", None) else None,
            counts={"captions": int(len(caption_ids)), "imported_from": str(root)},
        )
        build.caption_datasets.set(rows)
    try:
        write_chunks(build, caption_ids, items, scores=None)
        output_path, files = export.export_build(build)
        GroupsBuild.objects.filter(pk=build.pk).update(
            state=GroupsBuild.State.SUCCEEDED,
            progress=1.0,
            output_path=output_path,
            files=files,
            finished_at=timezone.now(),
        )
    except BaseException:
        store.clear(build.pk)
        build.delete()
        raise
    build.refresh_from_db()
    return build


def write_chunks(build: GroupsBuild, caption_ids: np.ndarray, items: dict, scores: dict | None) -> None:
    """Plan tables and merged chunks for groups given whole (imports); ids -1 = no item."""
    store.save_npy(store.plan_path(build.pk, "captions"), caption_ids)
    for m, ids in items.items():
        unique = np.unique(ids[ids >= 0])
        store.save_npy(
            store.plan_path(build.pk, f"{m}-items"),
            np.stack([unique, np.full_like(unique, -1), np.full_like(unique, -1)], axis=1),
        )
    for chunk, start in enumerate(range(0, len(caption_ids), build.caption_chunk_rows)):
        stop = start + build.caption_chunk_rows
        arrays = {"caption_ids": caption_ids[start:stop]}
        for m, ids in items.items():
            arrays[f"{m}__ids"] = ids[start:stop]
            arrays[f"{m}__scores"] = (
                scores[m][start:stop] if scores else np.full(ids[start:stop].shape, np.nan, dtype=np.float32)
            )
        store.save_npz(store.chunk_path(build.pk, chunk), **arrays)
