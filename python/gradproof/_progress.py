"""Progress of a long check: what ``check(progress=...)`` accepts, and the text bar it draws on
standard error by default (the command line's bar: ``checking 1234/40961 coordinates [===>  ]
812/s, 0:00:47 left``), shown only once a check has run for two seconds and only where someone
watches: a terminal, or a Jupyter notebook's cell (whose output redraws a line on ``\r``).
Knows nothing of how a check runs: the engine reports ``(done, total)`` coordinates.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Optional, TextIO, Union

#: A check shorter than this shows no bar by default (as on the command line).
DELAY_SECONDS = 2.0

#: Overrides :data:`DELAY_SECONDS`, in seconds (the command line's variable).
DELAY_VARIABLE = "GRADPROOF_PROGRESS_DELAY"

#: What ``check(progress=...)`` accepts.
ProgressOption = Union[None, bool, Callable[[int, int], Any]]


def _delay() -> float:
    try:
        seconds = float(os.environ.get(DELAY_VARIABLE, DELAY_SECONDS))
    except ValueError:
        return DELAY_SECONDS
    return seconds if seconds >= 0 else DELAY_SECONDS


def _watched(stream: Any) -> bool:
    """Whether ``stream`` is shown to someone as it is written: a terminal, or the stream a
    Jupyter kernel puts in a cell's output."""
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return True
    return type(stream).__module__.split(".")[0] == "ipykernel"


def _clock(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02}:{whole % 60:02}"


class TextBar:
    """A one-line bar on ``stream``, redrawn in place, that appears once ``delay`` seconds have
    passed; call it with ``(done, total)``, then :meth:`close`.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = TextBar(out, delay=0.0)
    >>> bar(47, 47)
    >>> bar.close()
    >>> out.getvalue().strip().startswith("checking 47/47 coordinates [")
    True
    """

    def __init__(self, stream: TextIO, delay: float) -> None:
        self._stream = stream
        self._delay = delay
        self._started = time.monotonic()
        # The count so far and when it started (a check of several points counts each anew),
        # and the length of the line last drawn (a shorter one is padded over it).
        self._done = 0
        self._counting_since = self._started
        self._drawn = 0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < self._done:
            self._counting_since = now
        self._done = done
        if now - self._started < self._delay or total <= 0:
            return
        width = 30
        filled = min(width, width * done // total)
        arrow = ">" if filled < width else ""
        bar = "=" * filled + arrow + " " * (width - filled - len(arrow))
        counting = now - self._counting_since
        rate = done / counting if counting > 0 else 0.0
        left = _clock((total - done) / rate) if rate > 0 else "?"
        line = f"checking {done}/{total} coordinates [{bar}] {rate:.0f}/s, {left} left"
        self._stream.write("\r" + line.ljust(self._drawn))
        self._stream.flush()
        self._drawn = len(line)

    def close(self) -> None:
        """Ends the bar's line, if it was drawn."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = 0


def progress_function(progress: ProgressOption) -> Optional[Callable[[int, int], Any]]:
    """What the engine calls with ``(done, total)`` for ``check(progress=progress)``: nothing
    for ``False``; the user's function; a bar on standard error for ``True`` (at once) or for
    ``None`` (the default: only on a terminal or in a Jupyter notebook, once the check has run
    for two seconds).

    >>> progress_function(False) is None
    True
    >>> progress_function(print) is print
    True
    """
    if progress is False:
        return None
    if progress is True:
        return TextBar(sys.stderr, delay=0.0)
    if progress is None:
        return TextBar(sys.stderr, delay=_delay()) if _watched(sys.stderr) else None
    if callable(progress):
        return progress
    raise TypeError(
        f"progress is a {type(progress).__name__}, expected None (a bar on a terminal after two "
        "seconds), True, False or a function progress(done, total)"
    )


__all__ = ["TextBar", "progress_function", "ProgressOption", "DELAY_SECONDS", "DELAY_VARIABLE"]
