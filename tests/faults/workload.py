"""The workload: submissions at the county, some escalated to the city, staff urges at the
county and triage at the city on escalated issues — every call recorded for the checker —
while faults fire at seeded random steps."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from node.domain.lifecycle import Triage, Urge
from tests.faults.checker import Recorder
from tests.faults.cluster import CITY, COUNTY, FaultFederation
from tests.support.data import STAFF, submit_cmd
from tests.support.federation import FedNode

LEADER = STAFF["leader"]
T = TypeVar("T")
Fault = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Workload:
    fed: FaultFederation
    rec: Recorder
    rng: random.Random
    label: str
    escalate_p: float = 0.25
    urge_p: float = 0.3
    city_act_p: float = 0.3
    n: int = 0
    local: list[str] = field(default_factory=list)  # owned by the county, not escalated
    escalated: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)  # calls refused, by error type
    skipped: int = 0  # steps whose node was down (nothing attempted)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def _call(self, code: str, fn: Callable[[FedNode], T]) -> T | None:
        async with self.fed.gate(code):
            sn = self.fed.nodes.get(code)
            if sn is None:
                self.skipped += 1
                return None
            try:
                return await asyncio.to_thread(fn, sn)
            except Exception as exc:  # recorded as attempted, not acknowledged
                self.refused[f"{code}:{type(exc).__name__}"] += 1
                return None

    async def submit(self) -> str | None:
        self.n += 1
        title = f"故障注入 {self.label} #{self.n}"

        def call(sn: FedNode) -> str:
            self.rec.attempt(title)
            issue, _ = sn.issues.submit(LEADER, submit_cmd(title=title))
            self.rec.ack(issue.id, title, issue.version)
            return str(issue.id)

        return await self._call(COUNTY, call)

    async def escalate(self, issue_id: str) -> None:
        def call(sn: FedNode) -> None:
            triaged = sn.issues.act(LEADER, issue_id, Triage(tags=("要素保障",)))
            self.rec.acked_version(issue_id, triaged.version)
            self.rec.request_escalation(issue_id)
            transfer_id = sn.transfers.request_escalation(LEADER, issue_id, "本级无法解决")
            self.rec.ack_escalation(issue_id, transfer_id)
            sn.node.notifier(CITY)

        await self._call(COUNTY, call)
        if issue_id in self.rec.escalations_acked:
            self.escalated.append(issue_id)
        else:
            self.local.append(issue_id)

    async def act(self, code: str, issue_id: str, command: Urge | Triage) -> None:
        def call(sn: FedNode) -> None:
            self.rec.actions_attempted += 1
            issue = sn.issues.act(LEADER, issue_id, command)
            self.rec.acked_version(issue_id, issue.version)
            self.rec.actions_acked += 1

        await self._call(code, call)

    async def step(self) -> None:
        issue_id = await self.submit()
        if issue_id is not None:
            if self.rng.random() < self.escalate_p:
                await self.escalate(issue_id)
            else:
                self.local.append(issue_id)
        if self.local and self.rng.random() < self.urge_p:
            await self.act(COUNTY, self.rng.choice(self.local), Urge(note="请加快办理"))
        if self.escalated and self.rng.random() < self.city_act_p:
            # the city works on what it received (refused while it has not arrived yet)
            await self.act(CITY, self.rng.choice(self.escalated), Triage(tags=("市级协调",)))

    async def run(self, steps: int, *, pace_s: float = 0.04,
                  faults: Sequence[tuple[int, Fault]] = ()) -> None:
        """`steps` workload steps; each fault starts (as a task) at its step."""
        await drive(self.step, self.done, steps, pace_s=pace_s, faults=faults)

    def summary(self) -> str:
        refused = ", ".join(f"{k}×{v}" for k, v in sorted(self.refused.items())) or "none"
        return (f"workload {self.label}: {len(self.rec.attempted)} submissions attempted, "
                f"{len(self.rec.acked)} acknowledged, {len(self.rec.escalations_acked)} "
                f"escalated, actions {self.rec.actions_acked}/{self.rec.actions_attempted}, "
                f"refused calls: {refused}, skipped steps: {self.skipped}")


async def drive(step: Callable[[], Awaitable[None]], done: asyncio.Event, steps: int, *,
                pace_s: float, faults: Sequence[tuple[int, Fault]] = ()) -> None:
    """Run `step` `steps` times, paced; each fault starts (as a task) at its step, and
    `done` is set when the steps are over (faults that repeat finish their current
    sequence); the faults are awaited, and cancelled if a step fails."""
    tasks: list[asyncio.Task[None]] = []
    done.clear()
    try:
        for i in range(steps):
            for at, fault in faults:
                if at == i:
                    tasks.append(asyncio.create_task(fault()))
            await step()
            await asyncio.sleep(pace_s)  # pacing of the workload against the faults
        done.set()
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
