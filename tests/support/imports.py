"""Rows of an import file for tests (node/domain/importing.py COLUMNS keys)."""

from __future__ import annotations

from typing import Any

from tests.support.data import CODE_A, CODE_B


def closed_row(ext: str, **over: Any) -> dict[str, object]:
    row: dict[str, object] = {
        "external_id": ext, "number": f"OLD-{ext}", "enterprise_name": "甲企业有限公司",
        "credit_code": CODE_A, "contact_phone": "13905720001", "channel": "12345营商环境专线",
        "title": f"电力增容 {ext}", "content": "新产线需要电力增容。", "tags": "要素保障、用电",
        "received_at": "2025-03-04 10:00", "state": "已结案", "board": "要素保障",
        "triaged_at": "2025-03-04 15:00", "department": "供电公司",
        "assigned_at": "2025-03-05 09:00", "resolved_at": "2025-03-10 17:00",
        "reply": "增容方案已批复。", "rating": "满意", "closed_at": "2025-03-11 10:00",
    }
    row.update(over)
    return row


def new_row(ext: str, **over: Any) -> dict[str, object]:
    row: dict[str, object] = {
        "external_id": ext, "enterprise_name": "乙企业有限公司", "credit_code": CODE_B,
        "contact_phone": "0572-6012345", "channel": "政企恳谈会", "title": f"用地指标 {ext}",
        "content": "恳谈会上提出用地指标问题。", "received_at": "2026-02-27 09:30",
    }
    row.update(over)
    return row
