"""Cleaning the unrated matches: a groups build's pairs kept where the similarity reaches
the threshold recommended by a rating project of that target modality, written in the
groups export's layouts with each pair's predicted P(good).

For each target modality of the build, one project of that target modality gives the
calibration (fitted on all its rated pairs, pooled over caption source modalities) and
the recommended threshold (docs/statistics.md). Modalities without such a project are
left out (blank ids), and say so in the manifest.

Output, under `groups/<build>/cleaned/` in media storage (annotation.storage: the media
root or the bucket), written into a local folder and published whole:
- `csv/nn_<i>/data_groups.csv`: the E-MM1 columns of the groups export, an id left
  empty where its pair falls below its modality's threshold; lines with no kept id are
  dropped;
- `parquet/nn_<i>/data_groups.parquet`: the same rows plus `<stem>_similarity` and
  `<stem>_p_good`;
- `manifest.json`: per modality the project, model, threshold, pairs and captions
  kept; every file's bytes, sha256 and rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sampling import statistics as st

from .. import storage
from ..groups import iter_chunks
from ..groups.export import CSV_COLUMNS, SIMILARITY_COLUMNS, STEM, csv_fields
from ..models import Caption, GroupsBuild, Item, Project
from ..models.groups import GROUP_MODALITIES
from . import queries, report

P_GOOD_COLUMNS = [f"{STEM[m]}_p_good" for m in GROUP_MODALITIES]
SCHEMA = pa.schema(
    [
        *(pa.field(c, pa.int32() if c == "nn_index" else pa.string()) for c in CSV_COLUMNS),
        *(pa.field(c, pa.float32()) for c in SIMILARITY_COLUMNS + P_GOOD_COLUMNS),
    ]
)
FETCH = 50_000
Progress = Callable[[int, int], None]  # captions written, captions in the build


def folder_name(build_id: int) -> str:
    """The cleaned output's storage name (beside the build's own files, groups/<build>/)."""
    return f"groups/{int(build_id)}/cleaned"


class CleaningError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.fields = {field: [message]}


def modality_models(projects: list[Project], target: float, label: str, n_boot: int = st.DEFAULT_BOOT) -> dict:
    """Target modality -> calibration model and recommended threshold from its project."""
    out = {}
    for project in projects:
        modality = project.target_modality
        data = queries.pairs(project)
        if not len(data["label"]):
            raise CleaningError("projects", f"project {project.name!r} has no rated pairs yet")
        y = report.outcome(data["label"], label)
        audit = data["audit"].astype(bool)
        pick = audit if audit.sum() >= report.MIN_AUDIT_PAIRS else np.ones(len(y), dtype=bool)
        curve = st.threshold_curve(
            data["similarity"][pick], y[pick], data["caption_id"][pick], n_boot=n_boot, seed=int(project.seed)
        )
        out[modality] = {
            "project": project.id,
            "project_name": project.name,
            "label": label,
            "target": target,
            "model": st.fit_calibration(data["similarity"], data["rank"], y),
            "threshold": st.recommend_threshold(curve, target),
            "sample": "audit" if pick is audit else "rated",
            "rated_pairs": int(len(y)),
        }
    return out


def _external(model, ids: np.ndarray) -> pa.Array:
    """External ids of database ids (any order), as an Arrow string array."""
    unique = np.unique(ids)
    found: dict[int, str] = {}
    for start in range(0, len(unique), FETCH):
        found.update(
            model.objects.filter(pk__in=unique[start : start + FETCH].tolist()).values_list("pk", "external_id")
        )
    return pa.array([found[int(i)] for i in ids], pa.string())


def _digest(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def write_cleaned(build: GroupsBuild, models: dict, folder: Path, progress: Progress | None = None) -> dict:
    """Stream the build a caption chunk at a time into the cleaned layouts in `folder`."""
    k, cleaned = build.k, [m for m in build.modalities if m in models]
    captions_total, captions_done = int(build.counts.get("captions", 0)), 0
    counts = {m: {"pairs_total": 0, "pairs_kept": 0, "captions_total": 0, "captions_kept": 0} for m in cleaned}
    csv_files, parquet_files, rows = {}, {}, dict.fromkeys(range(1, k + 1), 0)
    for nn in range(1, k + 1):
        (folder / "csv" / f"nn_{nn}").mkdir(parents=True, exist_ok=True)
        (folder / "parquet" / f"nn_{nn}").mkdir(parents=True, exist_ok=True)
        csv_files[nn] = open(folder / "csv" / f"nn_{nn}" / "data_groups.csv", "wb")
        csv_files[nn].write((",".join(CSV_COLUMNS) + "\n").encode())
        parquet_files[nn] = pq.ParquetWriter(
            folder / "parquet" / f"nn_{nn}" / "data_groups.parquet", SCHEMA, compression="zstd"
        )
    try:
        for chunk in iter_chunks(build):
            n = len(chunk.caption_ids)
            text = _external(Caption, chunk.caption_ids)
            text_csv = csv_fields(text.to_pylist())
            kept, p_good, ids_raw, ids_csv, sims = {}, {}, {}, {}, {}
            for m in cleaned:
                ids, scores = chunk.items[m]
                ranks = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
                threshold = models[m]["threshold"]
                kept[m] = (scores >= threshold) & (ids >= 0) if threshold is not None else np.zeros(ids.shape, bool)
                p_good[m] = st.predict(models[m]["model"], scores, ranks).astype(np.float32)
                raw = _external(Item, np.where(ids >= 0, ids, ids.max(initial=0)).ravel())
                ids_raw[m], ids_csv[m] = raw, csv_fields(raw.to_pylist())
                sims[m] = scores
                counts[m]["pairs_total"] += int((ids >= 0).sum())
                counts[m]["pairs_kept"] += int(kept[m].sum())
                counts[m]["captions_total"] += n
                counts[m]["captions_kept"] += int(kept[m].any(axis=1).sum())
            for nn in range(1, k + 1):
                col = nn - 1
                flat = {m: pa.array(np.arange(n) * k + col) for m in cleaned}
                keep_m = {m: pa.array(kept[m][:, col]) for m in cleaned}
                line = np.zeros(n, dtype=bool)
                for m in cleaned:
                    line |= kept[m][:, col]
                if not line.any():
                    continue
                select = pa.array(line)
                csv_columns, id_columns, sim_columns, p_columns = [text_csv], [text], [], []
                for m in GROUP_MODALITIES:
                    if m in cleaned:
                        csv_columns.append(pc.if_else(keep_m[m], ids_csv[m].take(flat[m]), ""))
                        id_columns.append(pc.if_else(keep_m[m], ids_raw[m].take(flat[m]), pa.scalar(None, pa.string())))
                        sim_columns.append(pa.array(np.ascontiguousarray(sims[m][:, col]), pa.float32()))
                        p_columns.append(pa.array(np.ascontiguousarray(p_good[m][:, col]), pa.float32()))
                    else:
                        csv_columns.append("")
                        id_columns.append(pa.nulls(n, pa.string()))
                        sim_columns.append(pa.nulls(n, pa.float32()))
                        p_columns.append(pa.nulls(n, pa.float32()))
                lines = pc.filter(pc.binary_join_element_wise(*csv_columns, f"{nn}\n", ","), select)
                offsets = np.frombuffer(
                    lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=4 * lines.offset
                )
                csv_files[nn].write(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])
                nn_column = pa.array(np.full(n, nn, dtype=np.int32))
                table = pa.Table.from_arrays([*id_columns, nn_column, *sim_columns, *p_columns], schema=SCHEMA)
                parquet_files[nn].write_table(table.filter(select))
                rows[nn] += int(line.sum())
            captions_done += n
            if progress:
                progress(captions_done, max(captions_total, captions_done))
    finally:
        for handle in csv_files.values():
            handle.close()
        for writer in parquet_files.values():
            writer.close()
    files = {}
    for nn in range(1, k + 1):
        for name in (f"csv/nn_{nn}/data_groups.csv", f"parquet/nn_{nn}/data_groups.parquet"):
            files[name] = {**_digest(folder / name), "rows": rows[nn]}
    return {
        "build": build.id,
        "k": k,
        "modalities": {m: {**models[m], **counts.get(m, {}), "cleaned": m in counts} for m in models},
        "left_out": [m for m in build.modalities if m not in models],
        "files": files,
    }


def check(build: GroupsBuild, projects: list[Project]) -> None:
    """The refusals a request gets at once (CleaningError), before anything is queued."""
    if build.state != GroupsBuild.State.SUCCEEDED:
        raise CleaningError("build", f"groups build {build.pk} is {build.state}; only a succeeded build has groups")
    if not projects:
        raise CleaningError("projects", "choose at least one rated project (one per target modality)")
    foreign = [p.name for p in projects if p.target_modality not in build.modalities]
    if foreign:
        raise CleaningError(
            "projects",
            f"the build has no {', '.join(sorted({p.target_modality for p in projects if p.name in foreign}))} groups "
            f"(projects {', '.join(foreign)})",
        )
    spaces = {s.target_modality: s for s in build.spaces.all()}  # an imported build has none
    modalities = set()
    for project in projects:
        if project.target_modality in modalities:
            raise CleaningError(
                "projects", f"two projects rate {project.target_modality}: choose one per target modality"
            )
        modalities.add(project.target_modality)
        space = spaces.get(project.target_modality)
        if space is not None and space.pk != project.space_id:
            raise CleaningError(
                "projects",
                f"project {project.name!r} rates space {project.space.name!r}, the build's "
                f"{project.target_modality} groups come from {space.name!r}",
            )
        if not queries.has_final_pairs(project):
            raise CleaningError("projects", f"project {project.name!r} has no rated pairs yet")


def clean_build(
    build: GroupsBuild,
    projects: list[Project],
    target: float = 0.8,
    label: str = "good",
    n_boot: int = st.DEFAULT_BOOT,
    progress: Progress | None = None,
) -> dict:
    """Fit, write into a local folder, publish it as groups/<build>/cleaned/ whole. The
    manifest returned is what the run record keeps (cleaning_runs): the database, not the
    folder, says which output is complete."""
    check(build, projects)
    models = modality_models(projects, target, label, n_boot)
    with storage.writing_folder(folder_name(build.pk)) as temp:
        manifest = write_cleaned(build, models, temp, progress)
        (temp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
