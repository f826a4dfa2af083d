"""One tqdm progress bar per CLI step, on stderr so stdout stays machine-readable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "rows") -> Iterator[Callable[[int], None]]:
    """Yield `advance(count)`; a no-op when disabled."""
    if not enabled:
        yield lambda count: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True) as bar:
        yield bar.update


def add_progress_flag(parser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")
