"""Progress of long work (STYLE 17): count, rate and ETA in human units, quiet off a terminal.

    bar = Progress(total=50000, label="fakes 256x256", unit="image")
    for batch in batches:
        ...
        bar.update(len(batch))
    bar.close()

On a terminal it is keras.utils.Progbar ('4096/50000 ━━━━━━ 1:02 14ms/image - image/s: 71.3');
in logs and pipes (CI) it prints nothing. `eta(seconds)` formats a remaining time for log lines.
"""
import sys
import time
from typing import Optional


def on_terminal(flag: Optional[bool] = None) -> bool:
    """The flag, or by default: only when stdout is a terminal (logs and pipes stay clean)."""
    return bool(sys.stdout.isatty()) if flag is None else bool(flag)


def eta(seconds: float) -> str:
    """12 -> '12s', 754 -> '12m34s', 9000 -> '2h30m'."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """A progress bar over `total` units (images, steps, seeds; None: unknown) with its rate."""

    def __init__(self, total: Optional[int], label: str, enabled: Optional[bool] = None, unit: str = "image"):
        self.count, self.unit, self._bar, self._start = 0, unit, None, time.perf_counter()
        if on_terminal(enabled):
            from keras.utils import Progbar  # pylint: disable=import-outside-toplevel
            print(label, flush=True)
            target = None if total is None else max(int(total), 1)  # None: count without an ETA
            self._bar = Progbar(target, unit_name=unit, stateful_metrics=[f"{unit}/s"])

    def update(self, new: int = 1) -> None:
        self.count += int(new)
        if self._bar is not None:
            rate = self.count / max(time.perf_counter() - self._start, 1e-9)
            shown = self.count if self._bar.target is None else min(self.count, self._bar.target)
            self._bar.update(shown, [(f"{self.unit}/s", rate)], finalize=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(self.count, finalize=True)
