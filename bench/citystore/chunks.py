"""One chunk of the plan → the rows to insert (what a worker process does).

A `Maker` is built once per process (`init()` in a pool worker): the cast of enterprises,
the city's rules, the fast fold and the row converters. `make()` tells, folds and maps
one chunk of planned issues with a `random.Random` seeded by (seed, chunk index), checks a
sample against the domain (bench/citystore/fold.py) and the row converters against
SQLAlchemy's (rows.py), and returns plain tuples — the loader only numbers the events
(`seq`, `writer_seq`) and inserts.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.citystore import scripts
from bench.citystore.city import city_config
from bench.citystore.fold import Fast, check
from bench.citystore.rows import Rows
from bench.citystore.vocabulary import units
from node.domain.lifecycle import Rules, current_light


@dataclass(slots=True)
class Chunk:
    index: int
    issue_columns: tuple[str, ...]
    tag_columns: tuple[str, ...]
    issues: list[tuple[Any, ...]]
    tags: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]  # rows.EVENT_COLUMNS; the writer is at WRITER
    states: Counter[str] = field(default_factory=Counter)
    lights: Counter[str] = field(default_factory=Counter)  # at generation time
    long_ids: list[str] = field(default_factory=list)
    checked: int = 0  # issues compared with the domain's own fold
    text_chars: int = 0  # title + content characters


WRITER = 3  # index of `node` in rows.EVENT_COLUMNS


@dataclass(frozen=True, kw_only=True, slots=True)
class Spec:
    """What every process needs to tell the same store."""

    n: int
    seed: int
    now: datetime
    backend: str
    verify_every: int


def city_rules() -> Rules:
    """The rules of the generated city (bench/citystore/city.py), built in each process
    (a WorkCalendar does not pickle)."""
    return city_config(url=None, data_dir=Path("var/bench")).rules()


class Maker:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.rules = city_rules()
        self.cast = scripts.Cast.make(spec.n, spec.seed, units())
        self.fast = Fast(self.rules)
        self.rows = Rows(spec.backend, self.rules)

    def make(self, index: int, planned: list[scripts.Planned]) -> Chunk:
        rng = random.Random(f"chunk-{self.spec.seed}-{index}")
        now = self.spec.now
        issue_rows: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        chunk = Chunk(index=index, issue_columns=(), tag_columns=(), issues=issue_rows,
                      tags=tag_rows, events=event_rows)
        every = self.spec.verify_every
        for k, p in enumerate(planned):
            story = scripts.tell(rng, p, self.cast, now)
            issue, evs = self.fast(story)
            row = self.rows.issue(issue)
            issue_rows.append(row)
            tags = self.rows.tags(issue)
            tag_rows.extend(tags)
            writers = [story.origin] + [s.writer for s in story.steps]
            first = len(event_rows)
            event_rows.extend(self.rows.event(e, w) for e, w in zip(evs, writers, strict=True))
            if p.long or (every and (p.index % every == 0)) or k == 0:
                check(story, self.rules, issue, evs)
                self.rows.check(issue, row, tags, evs[-1], writers[-1], event_rows[-1])
                self.rows.check(issue, row, tags, evs[0], writers[0], event_rows[first])
                chunk.checked += 1
            if p.long:
                chunk.long_ids.append(issue.id)
            chunk.states[issue.state.value] += 1
            light = current_light(issue, now, self.rules.calendar)
            chunk.lights[light.value if light else "none"] += 1
            chunk.text_chars += len(issue.title) + len(issue.content)
        chunk.issue_columns = self.rows.issue_columns
        chunk.tag_columns = self.rows.tag_columns
        return chunk


_maker: Maker | None = None


def init(spec: Spec) -> None:
    """Pool initializer: this process's Maker."""
    global _maker
    _maker = Maker(spec)


def make(job: tuple[int, list[scripts.Planned]]) -> Chunk:
    """Pool task: one chunk, by the process's Maker."""
    assert _maker is not None, "chunks.init() first"
    return _maker.make(*job)
