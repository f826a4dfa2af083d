"""Progress reporting for long work: tqdm bars on the command line."""

from __future__ import annotations

from tqdm import tqdm


class TqdmProgress:
    """A `progress(stage, done, total)` callback that shows one bar per stage."""

    def __init__(self, stream=None):
        self.stream = stream
        self.stage: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close(finished=True)  # a new stage means the previous one is done
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, file=self.stream, unit="row", leave=True)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self, finished: bool = False) -> None:
        if self.bar is not None:
            if finished:
                self.bar.n = self.bar.total
                self.bar.refresh()
            self.bar.close()
            self.bar = None
