"""A recording probe: the benches' side of the product's instrumentation seam.

The components report their stages through a `node.app.probes.Probe` (spans around a
stage, marks when keys reach a point); `Recorder` keeps what one node reports, so a bench
reads stage timings from it instead of wrapping the components' methods. Per stage it
keeps every span (perf_counter start and end, and its keys), and per marked stage the
first time each key reached it and how many did. It is thread-safe — components report
from the event loop and from worker threads — and `recording = False` makes it a no-op
(the node keeps its probe; the bench stops listening).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from types import TracebackType

from node.app.probes import Stage

_NOTHING: AbstractContextManager[None] = nullcontext()


@dataclass(frozen=True, slots=True)
class Span:
    """One run of a stage: perf_counter seconds, and what it worked on."""

    start: float
    end: float
    keys: Sequence[str]

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000.0


class _Timed:
    __slots__ = ("_keys", "_recorder", "_stage", "_start")

    def __init__(self, recorder: Recorder, stage: Stage, keys: Sequence[str]) -> None:
        self._recorder = recorder
        self._stage = stage
        self._keys = keys
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self._recorder.add_span(self._stage,
                                Span(self._start, time.perf_counter(), self._keys))


class Recorder:
    """A `node.app.probes.Probe` that keeps everything one node reports."""

    def __init__(self, *, recording: bool = True) -> None:
        self.recording = recording
        self._lock = threading.Lock()
        self._spans: defaultdict[Stage, list[Span]] = defaultdict(list)
        self._reached: defaultdict[Stage, dict[str, float]] = defaultdict(dict)
        self._counts: Counter[Stage] = Counter()

    # ---- the Probe protocol

    def timed(self, stage: Stage, keys: Sequence[str] = ()) -> AbstractContextManager[None]:
        return _Timed(self, stage, keys) if self.recording else _NOTHING

    def mark(self, stage: Stage, keys: Sequence[str] = (), *, count: int | None = None
             ) -> None:
        if not self.recording:
            return
        t = time.perf_counter()
        with self._lock:
            first = self._reached[stage]
            for key in keys:
                first.setdefault(key, t)
            self._counts[stage] += len(keys) if count is None else count

    def add_span(self, stage: Stage, span: Span) -> None:
        with self._lock:
            self._spans[stage].append(span)

    # ---- reading

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._spans.clear()
            self._reached.clear()
            self._counts.clear()

    def count(self, stage: Stage) -> int:
        """How many keys reached the marked `stage` (or the marks' counts)."""
        with self._lock:
            return self._counts[stage]

    def has_reached(self, stage: Stage, key: str) -> bool:
        with self._lock:
            return key in self._reached.get(stage, {})

    def reached(self, stage: Stage) -> dict[str, float]:
        """Per key, when it first reached the marked `stage`."""
        with self._lock:
            return dict(self._reached.get(stage, {}))

    def spans(self, *stages: Stage) -> list[Span]:
        """The spans of `stages`, in the order they ended."""
        with self._lock:
            found = [span for stage in stages for span in self._spans.get(stage, ())]
        return sorted(found, key=lambda span: span.end) if len(stages) > 1 else found

    def ms(self, *stages: Stage) -> list[float]:
        """The duration of every span of `stages`, in milliseconds."""
        return [span.ms for span in self.spans(*stages)]

    def first_start(self, *stages: Stage) -> dict[str, float]:
        """Per key, the start of the earliest span of `stages` that worked on it."""
        out: dict[str, float] = {}
        for span in self.spans(*stages):
            for key in span.keys:
                if key not in out or span.start < out[key]:
                    out[key] = span.start
        return out

    def last_start_before(self, stages: Iterable[Stage], marks: dict[str, float]
                          ) -> dict[str, float]:
        """Per key of `marks`, the start of the latest span of `stages` with that key that
        began before the key's mark (e.g. the transaction that applied an event)."""
        out: dict[str, float] = {}
        for span in self.spans(*stages):
            for key in span.keys:
                at = marks.get(key)
                if at is not None and span.start <= at and span.start > out.get(key, -1.0):
                    out[key] = span.start
        return out
