"""The one text-table formatter of the benches, and the columns they pick from.

A table is a sequence of `Column`s (a header, a width, an alignment and how to render one
row's cell); cells are separated by one space and padded to the column's width (width 0:
no padding, for the last column). The `Row` columns below are shared by the benches that
report `Row`s; `ratio_column` shows one entry of `Row.ratios`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bench.common.rows import Row

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Column(Generic[R]):
    head: str
    width: int
    cell: Callable[[R], str]
    left: bool = False  # left-aligned (text) rather than right-aligned (numbers)

    def pad(self, text: str) -> str:
        return text.ljust(self.width) if self.left else text.rjust(self.width)


def format_table(rows: Sequence[R], columns: Sequence[Column[R]], *, rule: bool = True) -> str:
    """The header, a rule of dashes as long as the header (unless `rule` is False), then
    one line per row."""
    head = " ".join(c.pad(c.head) for c in columns)
    lines = [head, "-" * len(head)] if rule else [head]
    lines += [" ".join(c.pad(c.cell(r)) for c in columns) for r in rows]
    return "\n".join(lines)


def ratio(value: float | None, *, fine: bool = False) -> str:
    """A ratio with 2 decimals ('-' when missing); `fine`: 3 decimals below 0.1."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3f}" if fine and value < 0.1 else f"{value:.2f}"


# --------------------------------------------------------------------------- Row columns

BACKEND: Column[Row] = Column("backend", 8, lambda r: r.backend, left=True)
SECONDS: Column[Row] = Column("sec", 7, lambda r: f"{r.timing.seconds:.2f}")
P50: Column[Row] = Column("p50 ms", 8, lambda r: f"{r.p50:.2f}")
P99: Column[Row] = Column("p99 ms", 8, lambda r: f"{r.p99:.2f}")
ERRORS: Column[Row] = Column("err", 4, lambda r: f"{r.timing.errors}")
CHECK: Column[Row] = Column("check", 0, lambda r: r.check, left=True)


def phase_column(width: int) -> Column[Row]:
    return Column("phase", width, lambda r: r.phase, left=True)


def count_column(width: int) -> Column[Row]:
    """Operations timed; `*` when the phase stopped at its deadline."""
    return Column("count", width,
                  lambda r: f"{r.timing.count}" + ("*" if r.timing.stopped_by_time else ""))


def per_second_column(head: str, width: int) -> Column[Row]:
    return Column(head, width, lambda r: f"{r.per_second:.0f}")


def ratio_column(head: str, width: int, key: str, *, fine: bool = False) -> Column[Row]:
    return Column(head, width, lambda r: ratio(r.ratios.get(key), fine=fine))
