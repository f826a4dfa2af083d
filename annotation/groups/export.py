"""A build's outputs: the E-MM1 100M layout in CSV, the same groups in Parquet.

`csv/nn_1/data_groups.csv ... csv/nn_k/data_groups.csv` hold one line per caption
with exactly the published columns `encord_text_id, encord_video_id, encord_audio_id,
encord_image_id, encord_points_id, nn_index` (an id left empty for a modality the
build has no space for; minimal quoting, `\\n` line ends), and `csv/infos/*.csv` the
captions and items they reference (the columns of annotation.export.emm1). `parquet/
nn_i/data_groups.parquet` hold the same rows plus `{video,audio,image,points}_similarity`.

Lines are assembled by Arrow kernels a caption chunk at a time (take + join), never
row by row in Python, and streamed: memory holds one caption chunk whatever the pool
size. Everything is written into a local folder published whole through annotation.storage
(moved into place, or uploaded to the bucket); each file's sha256 is recorded (and listed
in `SHA256SUMS`).
"""

from __future__ import annotations

import csv
import hashlib
import os
import secrets
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import storage
from ..export.emm1 import BASE_COLUMNS, EXTRA_COLUMNS, TEXT_COLUMNS, _media_columns
from ..export.writer import BUFFER_BYTES, open_text
from ..models import Caption, GroupsBuild, Item
from ..models.groups import GROUP_MODALITIES
from . import store

STEM = {"video": "video", "audio": "audio", "image": "image", "point_cloud": "points"}
CSV_COLUMNS = [
    "encord_text_id",
    "encord_video_id",
    "encord_audio_id",
    "encord_image_id",
    "encord_points_id",
    "nn_index",
]
SIMILARITY_COLUMNS = [f"{STEM[m]}_similarity" for m in GROUP_MODALITIES]
PARQUET_SCHEMA = pa.schema(
    [
        *(pa.field(c, pa.int32() if c == "nn_index" else pa.string()) for c in CSV_COLUMNS),
        *(pa.field(c, pa.float32()) for c in SIMILARITY_COLUMNS),
    ]
)
FORMATS = ("csv", "parquet")
FETCH_IDS = 50_000


def csv_field(text: str) -> str:
    """One CSV field as Python's csv module (QUOTE_MINIMAL) writes it."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_fields(values) -> pa.Array:
    return pa.array([csv_field(v) for v in values], type=pa.string())


def _fixed_width(values: pa.Array) -> np.ndarray | None:
    """Strings of one width as a numpy array of fixed-size records "value," (else None)."""
    if len(values) == 0 or values.null_count:
        return None
    lengths = pc.binary_length(values)
    width = pc.min(lengths).as_py()
    if width != pc.max(lengths).as_py() or width == 0:
        return None
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=4 * values.offset)
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(len(values), width)
    records = np.empty((len(values), width + 1), dtype=np.uint8)
    records[:, :width], records[:, width] = data, ord(",")
    return records.view(np.dtype((np.void, width + 1))).reshape(-1)


class _HashingFile:
    def __init__(self, path: Path):
        self.handle, self.digest, self.bytes = open(path, "wb", buffering=BUFFER_BYTES), hashlib.sha256(), 0

    def write(self, data) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.bytes += len(data)

    def close(self) -> dict:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return {"bytes": self.bytes, "sha256": self.digest.hexdigest()}


def _sha256(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BUFFER_BYTES):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


class GroupsWriter:
    """Streams groups, a caption chunk at a time, into one file per nn (framework-free).

    `items_raw` / `items_csv`: per modality, every pool item's external id (plain, and
    as a CSV field), indexed by the positions given to `write`, plus one last entry
    (null / "") for "no item".
    """

    def __init__(self, folder: Path, k: int, modalities, items_raw: dict, items_csv: dict, formats=FORMATS):
        self.folder, self.k, self.modalities, self.formats = folder, k, list(modalities), tuple(formats)
        self.items_raw, self.items_csv = items_raw, items_csv
        # ids of one width (E-MM1's are 36-character UUIDs) as [ids, width] byte matrices:
        # lines are then filled by numpy row gathers, several times faster than string takes
        self.fixed = {m: _fixed_width(items_csv[m][:-1]) for m in self.modalities}
        self.rows = 0
        self.csv, self.parquet = {}, {}
        for nn in range(1, k + 1):
            if "csv" in self.formats:
                path = folder / "csv" / f"nn_{nn}" / "data_groups.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                self.csv[nn] = _HashingFile(path)
                self.csv[nn].write((",".join(CSV_COLUMNS) + "\n").encode())
            if "parquet" in self.formats:
                path = folder / "parquet" / f"nn_{nn}" / "data_groups.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                self.parquet[nn] = pq.ParquetWriter(path, PARQUET_SCHEMA, compression="zstd")

    def write(self, text_raw: pa.Array, text_csv: pa.Array, positions: dict, scores: dict) -> None:
        """positions[m], scores[m]: [n, k] pool positions and similarities of the chunk's captions."""
        n = len(text_raw)
        text_fixed = _fixed_width(text_csv) if self.csv else None
        for nn in range(1, self.k + 1):
            taken = {m: pa.array(np.ascontiguousarray(positions[m][:, nn - 1])) for m in self.modalities}
            if self.csv:
                self.csv[nn].write(self._csv_lines(text_csv, text_fixed, positions, taken, nn))
            if self.parquet:
                ids = [
                    self.items_raw[m].take(taken[m]) if m in taken else pa.nulls(n, pa.string())
                    for m in GROUP_MODALITIES
                ]
                sims = [
                    pa.array(np.ascontiguousarray(scores[m][:, nn - 1]), pa.float32())
                    if m in taken
                    else pa.nulls(n, pa.float32())
                    for m in GROUP_MODALITIES
                ]
                nn_column = pa.array(np.full(n, nn, dtype=np.int32))
                self.parquet[nn].write_table(
                    pa.Table.from_arrays([text_raw, *ids, nn_column, *sims], schema=PARQUET_SCHEMA)
                )
        self.rows += n * self.k

    def _csv_lines(self, text_csv, text_fixed, positions, taken, nn: int):
        """The chunk's lines of nn_{nn}/data_groups.csv, as bytes."""
        column = {m: positions[m][:, nn - 1] for m in self.modalities}
        fast = text_fixed is not None and all(
            self.fixed[m] is not None and not (column[m] >= len(self.fixed[m])).any() for m in self.modalities
        )
        if fast:  # one record per line; each field is a gather of fixed-size "id," records
            tail = f"{nn}\n".encode()
            fields = [text_fixed] + [
                np.take(self.fixed[m], column[m]) if m in column else None for m in GROUP_MODALITIES
            ]
            layout = [(f"f{i}", f.dtype if f is not None else np.dtype((np.void, 1))) for i, f in enumerate(fields)]
            out = np.empty(len(text_fixed), dtype=layout + [("tail", np.dtype((np.void, len(tail))))])
            for i, values in enumerate(fields):
                out[f"f{i}"] = values if values is not None else np.void(b",")
            out["tail"] = np.void(tail)
            return memoryview(out.view(np.uint8))
        columns = [text_csv] + [self.items_csv[m].take(taken[m]) if m in taken else "" for m in GROUP_MODALITIES]
        lines = pc.binary_join_element_wise(*columns, f"{nn}\n", ",")
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=4 * lines.offset)
        return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]

    def close(self) -> dict:
        """Relative file name -> {bytes, sha256, rows}."""
        files = {}
        for nn, handle in self.csv.items():
            files[f"csv/nn_{nn}/data_groups.csv"] = {**handle.close(), "rows": self.rows // self.k}
        for nn, writer in self.parquet.items():
            writer.close()
            name = f"parquet/nn_{nn}/data_groups.parquet"
            files[name] = {**_sha256(self.folder / name), "rows": self.rows // self.k}
        return files


def chunk_files(build: GroupsBuild):
    """The merged caption chunks, in order (what iter_groups reads)."""
    chunk = 0
    while store.exists(name := store.chunk_path(build.pk, chunk)):
        yield store.load_npz(name)
        chunk += 1


def _item_ids(build: GroupsBuild, modality: str) -> np.ndarray:
    return np.asarray(store.load_npy(store.plan_path(build.pk, f"{modality}-items"))[:, 0])


def _external_ids(model, ids: np.ndarray) -> list[str]:
    """External ids for sorted database ids, fetched in blocks."""
    out: list[str] = []
    for start in range(0, len(ids), FETCH_IDS):
        block = ids[start : start + FETCH_IDS].tolist()
        found = dict(model.objects.filter(pk__in=block).values_list("pk", "external_id"))
        out += [found[i] for i in block]
    return out


def _write_text_infos(writer, captions: list[tuple]) -> None:
    for external_id, text, dataset, license_, source_modality, paired_modality, paired_id in captions:
        modality = STEM.get(paired_modality or source_modality, "")
        writer.writerow([external_id, text, dataset, license_, modality, paired_id or ""])


def _write_item_infos(folder: Path, modality: str, ids: np.ndarray) -> tuple[str, dict] | None:
    if not len(ids):
        return None
    stem = STEM[modality]
    name = f"csv/infos/{stem}.csv"
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_text(path) as out:
        writer = csv.writer(out)
        writer.writerow([f"encord_{stem}_id", *BASE_COLUMNS, *EXTRA_COLUMNS[stem]])
        for start in range(0, len(ids), FETCH_IDS):
            rows = (
                Item.objects.filter(pk__in=ids[start : start + FETCH_IDS].tolist())
                .order_by("pk")
                .values_list("external_id", "source_dataset", "license", "media", "metadata")
            )
            for external_id, dataset, license_, media, metadata in rows:
                writer.writerow([external_id, dataset, license_, *_media_columns(media, metadata, stem)])
    return name, {**_sha256(path), "rows": int(len(ids))}


def write_outputs(build: GroupsBuild, folder: Path, formats=FORMATS, progress=None) -> dict:
    """Every output file of the build into `folder`; returns the files' records."""
    item_ids = {m: _item_ids(build, m) for m in build.modalities}
    external_ids = {m: _external_ids(Item, ids) for m, ids in item_ids.items()}
    # one more entry, for "no item" (id -1: a caption with fewer than k candidates)
    raw = {m: pa.array(values + [None], pa.string()) for m, values in external_ids.items()}
    escaped = {m: csv_fields(values + [""]) for m, values in external_ids.items()}
    referenced = {m: np.zeros(len(ids), dtype=bool) for m, ids in item_ids.items()}
    writer = GroupsWriter(folder, build.k, build.modalities, raw, escaped, formats)
    text_path = folder / "csv" / "infos" / "text.csv"
    text_path.parent.mkdir(parents=True, exist_ok=True)
    captions_total = max(int(build.counts.get("captions", 0)), 1)
    with open_text(text_path) as text_out:
        text_writer = csv.writer(text_out)
        text_writer.writerow(TEXT_COLUMNS)
        for data in chunk_files(build):
            caption_ids = data["caption_ids"].tolist()
            rows = {
                r[0]: r[1:]
                for r in Caption.objects.filter(pk__in=caption_ids).values_list(
                    "pk",
                    "external_id",
                    "text",
                    "source_dataset",
                    "license",
                    "source_modality",
                    "paired_item__modality",
                    "paired_item__external_id",
                )
            }
            captions = [rows[i] for i in caption_ids]
            _write_text_infos(text_writer, captions)
            external = [c[0] for c in captions]
            positions, scores = {}, {}
            for m in build.modalities:
                ids = data[f"{m}__ids"]
                positions[m] = np.where(ids < 0, len(item_ids[m]), np.searchsorted(item_ids[m], ids))
                referenced[m][positions[m][ids >= 0]] = True
                scores[m] = data[f"{m}__scores"]
            writer.write(pa.array(external, pa.string()), csv_fields(external), positions, scores)
            if progress:
                progress(writer.rows / build.k / captions_total)
    files = writer.close()
    files["csv/infos/text.csv"] = {**_sha256(text_path), "rows": writer.rows // max(build.k, 1)}
    for m in build.modalities:
        written = _write_item_infos(folder, m, item_ids[m][referenced[m]])
        if written:
            files[written[0]] = written[1]
    files = dict(sorted(files.items()))
    (folder / "SHA256SUMS").write_text("".join(f"{f['sha256']}  {name}\n" for name, f in files.items()))
    return files


def export_build(build: GroupsBuild) -> tuple[str, dict]:
    """Write the outputs into a local folder, then publish it whole under an unguessable
    name (media storage may be served); earlier outputs and crashed attempts' leftovers go."""
    root = store.folder_name(build.pk)
    stale = {name[len(root) + 1 :].split("/", 1)[0] for name in storage.list_folder(root)}
    for leftover in sorted(s for s in stale if s.lstrip(".").startswith(("out-", "tmp-out-"))):
        storage.delete_folder(f"{root}/{leftover}")
    output = f"{root}/out-{secrets.token_hex(8)}"
    known: dict[str, str] = {}  # hashed while written: the upload need not hash them again
    with storage.writing_folder(output, known) as temp:
        files = write_outputs(build, temp)
        known.update({name: record["sha256"] for name, record in files.items()})
    return output, files
