"""The groups CSV writer gives the bytes Python's csv module would write, on both of its
paths (fixed-width ids gathered by numpy; any ids joined by Arrow), "no item" included."""

from __future__ import annotations

import csv
import io

import numpy as np
import pyarrow as pa
import pytest

from annotation.groups.export import CSV_COLUMNS, GroupsWriter, csv_fields

MODALITIES = ["audio", "image"]  # video and points stay empty


def reference(texts, ids, positions, k) -> dict[int, bytes]:
    out = {}
    for nn in range(1, k + 1):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row, text in enumerate(texts):

            def item(m):
                p = positions[m][row, nn - 1]
                return ids[m][p] if p < len(ids[m]) else ""

            writer.writerow([text, "", item("audio"), item("image"), "", nn])
        out[nn] = buffer.getvalue().encode()
    return out


@pytest.mark.parametrize("kind", ["fixed", "mixed", "missing"])
def test_csv_bytes_equal_the_csv_module(tmp_path, kind):
    rng = np.random.default_rng(1)
    n, k, vocab = 50, 3, 20
    if kind == "mixed":
        ids = {m: [f"{m}-{i}" if i % 3 else f'{m} "{i}", quoted' for i in range(vocab)] for m in MODALITIES}
        texts = [f"t{i}" for i in range(n)]
    else:
        ids = {m: [f"{m}-{i:04d}" for i in range(vocab)] for m in MODALITIES}
        texts = [f"t{i:03d}" for i in range(n)]
    positions = {m: rng.integers(0, vocab, size=(n, k)) for m in MODALITIES}
    if kind == "missing":
        positions["image"][3, 1] = vocab  # the "no item" entry
    raw = {m: pa.array(v + [None], pa.string()) for m, v in ids.items()}
    escaped = {m: csv_fields(v + [""]) for m, v in ids.items()}
    scores = {m: rng.random((n, k), dtype=np.float32) for m in MODALITIES}
    writer = GroupsWriter(tmp_path, k, MODALITIES, raw, escaped, ("csv",))
    for start in range(0, n, 16):  # chunks of 16 captions
        chunk = slice(start, start + 16)
        writer.write(
            pa.array(texts[chunk]),
            csv_fields(texts[chunk]),
            {m: p[chunk] for m, p in positions.items()},
            {m: s[chunk] for m, s in scores.items()},
        )
    files = writer.close()
    expected = reference(texts, ids, positions, k)
    for nn in range(1, k + 1):
        assert (tmp_path / f"csv/nn_{nn}/data_groups.csv").read_bytes() == expected[nn]
        assert files[f"csv/nn_{nn}/data_groups.csv"]["rows"] == n
