"""`zeroshot`: a zero-shot classification benchmark from a consensus project (EShot-style).

For pairs with consensus `good`, both items (the task's paired item and the candidate)
enter the benchmark when they carry the same class label in their metadata (key
`class`, or the option `class_key`). The `.zip` holds `classes.csv` (`class, modality,
item_id`, one line per item, both modalities) and `evaluate.py` (zeroshot_eval), which
scores embeddings by mean class embedding and cosine similarity, top-1 and top-5.
Without a `states` filter only agreed and adjudicated pairs count.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

from django.db.models import F, Q
from django.db.models.fields.json import KeyTextTransform

from ..models import Item, PairResult
from . import zeroshot_eval
from .rows import ExportSource
from .writer import ZIP_EPOCH, zip_text_member

EXTENSION = "zip"
OPTIONS = {"class_key": str}
CONSENSUS = (PairResult.State.AGREED, PairResult.State.ADJUDICATED)


def write(source: ExportSource, path: Path, options: dict) -> int:
    key = options.get("class_key", "class")
    pairs = source.pairs().filter(label="good")
    if not source.filters.states:
        pairs = pairs.filter(state__in=CONSENSUS)
    pairs = pairs.annotate(
        paired_class=KeyTextTransform(key, "task__paired_item__metadata"),
        candidate_class=KeyTextTransform(key, "candidate__item__metadata"),
    ).filter(paired_class__isnull=False, candidate_class=F("paired_class"))
    items = (
        Item.objects.filter(
            Q(pk__in=pairs.values("task__paired_item_id")) | Q(pk__in=pairs.values("candidate__item_id"))
        )
        .annotate(item_class=KeyTextTransform(key, "metadata"))
        .order_by("item_class", "modality", "external_id")
        .values_list("item_class", "modality", "external_id")
        .iterator(chunk_size=source.chunk_size)
    )
    count = 0
    with zipfile.ZipFile(path, "w") as archive:
        with zip_text_member(archive, "classes.csv") as out:
            writer = csv.writer(out)
            writer.writerow(["class", "modality", "item_id"])
            for row in items:
                writer.writerow(row)
                count += 1
        script = zipfile.ZipInfo("evaluate.py", date_time=ZIP_EPOCH)
        script.compress_type, script.external_attr = zipfile.ZIP_DEFLATED, 0o755 << 16
        archive.writestr(script, Path(zeroshot_eval.__file__).read_bytes())
    source.progress(count, count)
    return count
