"""Reports told to the leaders (topic report_ready) on SQLite and PostgreSQL, with
notifications on: a scheduled report and one made on demand each put one notice in the
outbox in the transaction that keeps the report, expanded to the node's leaders only (the
in-app inbox and, with a real SMTP server, e-mail) with links to download it; running the
schedule again, a regeneration (replace) and a refusal tell no one a second time."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from node.app.notify import Contact
from node.domain.notifications import Topic
from node.runtime import Node
from node.store.schema import inbox_messages, notification_deliveries, notifications
from tests.integration.test_notify import (  # noqa: F401 - the fixtures receiver, smtp
    PASSWORD,
    Mailbox,
    Receiver,
    count,
    drain,
    make_node,
    notify_config,
    notify_of,
    receiver,
    rows,
    smtp,
)
from tests.integration.test_reports import history
from tests.support.clock import FakeClock
from tests.support.data import STAFF


def notified(engine: Engine) -> list[str]:
    return sorted(n.key for n in rows(engine, notifications,
                                      notifications.c.topic == Topic.REPORT_READY.value))


async def test_each_report_made_is_told_once_to_the_leaders_with_its_links(
        tmp_path: Path, engine: Engine, clock: FakeClock, receiver: Receiver,  # noqa: F811
        smtp: Mailbox) -> None:  # noqa: F811
    node: Node = make_node(tmp_path, engine, clock, notify_config(
        receiver, smtp, enterprise_channels=[], staff_channels=["inbox", "email"]))
    service = notify_of(node)
    service.set_contact(STAFF["admin"], Contact(username="leader",
                                                email="leader@test.example"))
    history(node, clock)
    await drain(service)  # the issues' own notices
    before_mail = len(smtp.messages)
    reports = node.services.reports
    assert reports is not None
    made = reports.run_due()
    assert len(made) == 3  # March, Q1, 2025
    keys = notified(engine)
    assert keys == sorted(f"report:330522:{r.id}" for r in made)
    assert reports.run_due() == [] and notified(engine) == keys

    with TestClient(node.app) as c:
        login = c.post("/api/v1/auth/login", json={"username": "leader", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        first = c.post("/api/v1/reports", json={"kind": "month", "period": "2026-02"},
                       headers=auth)
        assert first.status_code == 201, first.text
        again = c.post("/api/v1/reports", json={"kind": "month", "period": "2026-02",
                                                "replace": True}, headers=auth)
        assert again.status_code == 201 and again.json()["version"] == 2
        refused = c.post("/api/v1/reports", json={"kind": "month", "period": "2026-04"},
                         headers=auth)
        assert refused.status_code == 409
    feb = first.json()["id"]
    assert notified(engine) == sorted([*keys, f"report:330522:{feb}"])  # one, not two

    await drain(service)
    told = [m for m in rows(engine, inbox_messages)
            if m.topic == Topic.REPORT_READY.value]
    assert {m.username for m in told} == {"leader"}  # the node's leaders only
    assert len(told) == 4
    [msg] = [m for m in told if f"/api/v1/reports/{feb}/pdf" in m.body]
    assert msg.subject == "报告已生成：长兴县2026年2月涉企问题闭环办理月度报告"
    assert "按需生成" in msg.body and f"http://zt.test/api/v1/reports/{feb}/xlsx" in msg.body
    assert "http://zt.test/ui/workbench/reports" in msg.body
    mails = smtp.messages[before_mail:]
    assert len(mails) == 4 and all(m["To"] == "leader@test.example" for m in mails)
    assert sum("2026年2月" in str(m["Subject"]) for m in mails) == 1
    deliveries = [d for d in rows(engine, notification_deliveries) if d.channel == "email"
                  and d.recipient == "user:leader"]
    assert len({d.idempotency_key for d in deliveries}) == len(deliveries)
    assert count(engine, notifications) >= 4
