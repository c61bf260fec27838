"""Reproducible revisit sampling (回访抽查).

A share (default 20%) of the resolved issues of a period is drawn for a revisit call. So that
a higher tier can audit the draw — "was this really random, or did the county pick its best
cases?" — the draw is a pure function of three stored values: the seed, the share and the
frame (the sorted, de-duplicated issue ids it was drawn from). `verify_revisit_sample`
simply recomputes it.

How it works: k = ceil(share × |frame|), computed exactly with `Fraction` (a float share is
read through its shortest decimal repr, so 0.2 × 15 is exactly 3, not 3.0000000000000004 → 4).
Every id is given the key sha256(seed ‖ 0x00 ‖ id) and the k ids with the smallest keys are
selected (ties, which never happen in practice, fall back to the id). This is the
"bottom-k hash" form of sampling without replacement.

Why not `random.Random(seed).sample`: Python guarantees only `random()` and seeding to be
stable across versions, not `sample()`; an audit run years later on a newer interpreter
could then fail for a draw that was honest. The hash ranking depends on SHA-256 and sorting
alone, is identical on every platform and version (no `hash()`, no PYTHONHASHSEED), does not
depend on the order in which the frame was supplied, and can be re-implemented by an
auditor in a few lines of any language. The method name is stored with the sample so that a
future change of algorithm stays auditable.

`make_seed` derives a seed from the node, the period and a caller-supplied random salt; the
salt is what makes the draw unpredictable beforehand, the stored seed what makes it
checkable afterwards.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from node.domain.errors import ValidationError

METHOD = "sha256-bottom-k/v1"
DEFAULT_SHARE = 0.2


@dataclass(frozen=True, kw_only=True, slots=True)
class RevisitSample:
    """One stored draw: everything needed to recompute and audit it."""

    seed: str
    share: Fraction
    frame: tuple[str, ...]  # sorted, de-duplicated issue ids
    selected: tuple[str, ...]  # sorted
    method: str = METHOD

    @property
    def size(self) -> int:
        return len(self.selected)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; `share` is an exact fraction string such as "1/5"."""
        return {
            "method": self.method,
            "seed": self.seed,
            "share": str(self.share),
            "frame": list(self.frame),
            "selected": list(self.selected),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RevisitSample:
        """Rebuild a stored sample (for auditing); no consistency check — use verify."""
        try:
            return cls(
                method=str(data["method"]),
                seed=str(data["seed"]),
                share=Fraction(str(data["share"])),
                frame=tuple(str(i) for i in data["frame"]),
                selected=tuple(str(i) for i in data["selected"]),
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise ValidationError("sample_malformed", field="sample", reason=str(exc)) from exc


def _exact_share(share: float | Fraction) -> Fraction:
    if isinstance(share, bool):
        raise ValidationError("share_not_a_number", field="share", value=repr(share))
    try:
        exact = share if isinstance(share, Fraction) else Fraction(repr(share))
    except (TypeError, ValueError, OverflowError):
        exact = None
    if exact is None or not (0 < exact <= 1):
        raise ValidationError("share_out_of_range", field="share", value=repr(share))
    return exact


def _check_seed(seed: str) -> None:
    if not isinstance(seed, str) or not seed:
        raise ValidationError("seed_empty", field="seed")


def _canonical_frame(frame: Iterable[str]) -> tuple[str, ...]:
    ids = set()
    for issue_id in frame:
        if not isinstance(issue_id, str) or not issue_id:
            raise ValidationError("frame_id_invalid", field="frame", value=repr(issue_id))
        ids.add(issue_id)
    return tuple(sorted(ids))


def sample_size(n: int, share: float | Fraction) -> int:
    """ceil(share × n), exact; 0 for an empty frame, at least 1 otherwise."""
    return math.ceil(_exact_share(share) * n) if n > 0 else 0


def _select(frame: tuple[str, ...], k: int, seed: str) -> tuple[str, ...]:
    if k == 0:
        return ()
    prefix = seed.encode("utf-8") + b"\x00"

    def key(issue_id: str) -> tuple[bytes, str]:
        return hashlib.sha256(prefix + issue_id.encode("utf-8")).digest(), issue_id

    if k >= len(frame):
        return frame
    ranked = sorted(frame, key=key)
    return tuple(sorted(ranked[:k]))


def draw_revisit_sample(
    frame: Iterable[str], *, share: float | Fraction = DEFAULT_SHARE, seed: str
) -> RevisitSample:
    """Draw ceil(share × n) of the (de-duplicated) frame, reproducibly from `seed`.

    Raises ValidationError if share is not in (0, 1], the seed is empty, or an id is empty.
    """
    exact = _exact_share(share)
    _check_seed(seed)
    canonical = _canonical_frame(frame)
    k = math.ceil(exact * len(canonical))
    return RevisitSample(
        seed=seed, share=exact, frame=canonical, selected=_select(canonical, k, seed)
    )


def verify_revisit_sample(sample: RevisitSample) -> bool:
    """Audit: True iff the stored frame is canonical and the selection recomputes exactly."""
    if sample.method != METHOD:
        return False
    try:
        redrawn = draw_revisit_sample(sample.frame, share=sample.share, seed=sample.seed)
    except ValidationError:
        return False
    return redrawn.frame == tuple(sample.frame) and redrawn.selected == tuple(sample.selected)


def make_seed(*, node: str, period: str, salt: str) -> str:
    """Deterministic seed from the node, the period (e.g. "2025-Q3") and a random salt.

    The parts are JSON-encoded before hashing so that no two different triples collide by
    concatenation ("a:b" + "c" vs "a" + "b:c").
    """
    for field, value in (("node", node), ("period", period), ("salt", salt)):
        if not isinstance(value, str) or not value:
            raise ValidationError("seed_part_empty", field=field)
    canonical = json.dumps(
        ["revisit", node, period, salt], ensure_ascii=False, separators=(",", ":")
    )
    return "rv1-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
