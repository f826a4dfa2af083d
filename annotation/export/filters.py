"""Which rated pairs an export takes: parsed and checked up front, applied in SQL.

Filters are a JSON object; every key is optional and an empty list means "no filter":

- `labels`: consensus labels (`good`, `partial`, `bad`);
- `states`: consensus states (`agreed`, `contested`, `adjudicated`, `single`); excluded
  pairs are never exported (that is what the `exclude` route means);
- `modality_pairs`: `"<caption source modality>-><candidate modality>"`, as in stats;
- `source_datasets`: a pair matches when its caption or its candidate comes from one;
- `date_from`, `date_to`: ISO dates or datetimes on the pair's consensus time (a bare
  `date_to` includes that whole day);
- `min_agreement`, `max_agreement`: per-pair raw agreement in [0, 1] (share of agreeing
  annotator pairs, computed in SQL from the result's votes); pairs rated by one
  annotator have none and are left out when either is set;
- `gold`: `include` (default), `exclude` or `only` gold pairs.

Bad input raises FilterError naming the key, before anything runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta

from django.db.models import Case, F, FloatField, IntegerField, Q, QuerySet, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ..models import Caption, Item, Label, PairResult
from ..models.datasets import Modality

STATES = (PairResult.State.AGREED, PairResult.State.CONTESTED, PairResult.State.ADJUDICATED, PairResult.State.SINGLE)
GOLD_CHOICES = ("include", "exclude", "only")
CAPTION_MODALITIES = set(Modality.values) | {"unknown"}  # stats call a blank source "unknown"


class FilterError(ValueError):
    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


@dataclass(frozen=True)
class ExportFilters:
    labels: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    modality_pairs: tuple[str, ...] = ()
    source_datasets: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    min_agreement: float | None = None
    max_agreement: float | None = None
    gold: str = "include"
    _bounds: tuple = field(default=(None, None), compare=False, repr=False)

    def as_dict(self) -> dict:
        """Only the keys that filter something: what ExportRun.filters stores."""
        data = asdict(self)
        data.pop("_bounds")
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in data.items()
            if v not in ((), None) and not (k == "gold" and v == "include")
        }

    @property
    def needs_agreement(self) -> bool:
        return self.min_agreement is not None or self.max_agreement is not None


def parse_filters(data: dict | None) -> ExportFilters:
    data = data or {}
    if not isinstance(data, dict):
        raise FilterError("filters", "must be a JSON object")
    unknown = set(data) - {f for f in ExportFilters.__dataclass_fields__ if not f.startswith("_")}
    if unknown:
        raise FilterError(sorted(unknown)[0], "unknown filter")
    labels = _choices(data, "labels", Label.values)
    states = _choices(data, "states", STATES)
    pairs = _strings(data, "modality_pairs")
    for pair in pairs:
        caption, _, item = pair.partition("->")
        if caption not in CAPTION_MODALITIES or item not in Modality.values or item == "text":
            raise FilterError("modality_pairs", f"{pair!r} is not '<modality>-><media modality>'")
    sources = _strings(data, "source_datasets")
    for name in sources:
        if not (
            Item.objects.filter(source_dataset=name).exists() or Caption.objects.filter(source_dataset=name).exists()
        ):
            raise FilterError("source_datasets", f"no caption or item comes from {name!r}")
    bounds = (_moment(data, "date_from", end=False), _moment(data, "date_to", end=True))
    if None not in bounds and bounds[0] > bounds[1]:
        raise FilterError("date_to", "is before date_from")
    low, high = _fraction(data, "min_agreement"), _fraction(data, "max_agreement")
    if low is not None and high is not None and low > high:
        raise FilterError("max_agreement", "is below min_agreement")
    gold = data.get("gold", "include")
    if gold not in GOLD_CHOICES:
        raise FilterError("gold", f"must be one of {', '.join(GOLD_CHOICES)}")
    return ExportFilters(
        labels, states, pairs, sources, data.get("date_from"), data.get("date_to"), low, high, gold, bounds
    )


def apply_filters(queryset: QuerySet, filters: ExportFilters) -> QuerySet:
    """Narrow a PairResult queryset to the pairs the filters take."""
    queryset = queryset.filter(state__in=filters.states or STATES)
    if filters.labels:
        queryset = queryset.filter(label__in=filters.labels)
    if filters.modality_pairs:
        match = Q()
        for pair in filters.modality_pairs:
            caption, _, item = pair.partition("->")
            match |= Q(caption_modality="" if caption == "unknown" else caption, item_modality=item)
        queryset = queryset.filter(match)
    if filters.source_datasets:
        queryset = queryset.filter(
            Q(task__caption__source_dataset__in=filters.source_datasets)
            | Q(candidate__item__source_dataset__in=filters.source_datasets)
        )
    start, end = filters._bounds
    if start is not None:
        queryset = queryset.filter(updated_at__gte=start)
    if end is not None:
        queryset = queryset.filter(updated_at__lt=end)
    if filters.gold == "exclude":
        queryset = queryset.filter(candidate__gold__isnull=True)
    elif filters.gold == "only":
        queryset = queryset.filter(candidate__gold__isnull=False)
    if filters.needs_agreement:
        queryset = with_agreement(queryset).filter(agreement__isnull=False)
        if filters.min_agreement is not None:
            queryset = queryset.filter(agreement__gte=filters.min_agreement - 1e-9)
        if filters.max_agreement is not None:
            queryset = queryset.filter(agreement__lte=filters.max_agreement + 1e-9)
    return queryset


def with_agreement(queryset: QuerySet) -> QuerySet:
    """Votes per label and the pair's raw agreement, computed in SQL from `votes`.

    Raw agreement is annotation.rating.agreement.raw_agreement on one unit: the share of
    annotator pairs that agree, sum c(c-1) / n(n-1); NULL below two annotators.
    """
    if "agreement" in queryset.query.annotations:
        return queryset
    votes = {
        f"votes_{label}": Coalesce(Cast(KeyTextTransform(label, "votes"), IntegerField()), 0)
        for label in ("good", "partial", "bad")
    }
    queryset = queryset.annotate(**votes)
    g, p, b = F("votes_good"), F("votes_partial"), F("votes_bad")
    n = g + p + b
    same = g * (g - 1) + p * (p - 1) + b * (b - 1)
    return queryset.annotate(
        agreement=Case(
            When(GreaterThanOrEqual(n, 2), then=Cast(same, FloatField()) / Cast(n * (n - 1), FloatField())),
            default=None,
            output_field=FloatField(),
        )
    )


def _strings(data: dict, key: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise FilterError(key, "must be a list of strings")
    return tuple(dict.fromkeys(value))


def _choices(data: dict, key: str, allowed) -> tuple[str, ...]:
    values = _strings(data, key)
    for value in values:
        if value not in allowed:
            raise FilterError(key, f"unknown value {value!r} (one of {', '.join(allowed)})")
    return values


def _moment(data: dict, key: str, end: bool) -> datetime | None:
    raw = data.get(key)
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise FilterError(key, "must be an ISO date or datetime")
    try:  # a bare date first: parse_datetime would read it as midnight
        day = parse_date(raw)
        moment = None if day else parse_datetime(raw)
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise FilterError(key, f"{raw!r} is not an ISO date or datetime")
    if moment is None:
        moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
    elif end:
        moment += timedelta(microseconds=1)  # the bound is exclusive: include the moment named
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def _fraction(data: dict, key: str) -> float | None:
    raw = data.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 <= raw <= 1:
        raise FilterError(key, "must be a number in [0, 1]")
    return float(raw)
