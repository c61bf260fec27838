"""Transfers between tiers: escalation, return, dispatch and directives (the use cases in
`service`, their types in `types`, the automatic escalation rule in `auto`)."""

from node.app.transfers.auto import AutoEscalation
from node.app.transfers.service import TransferService
from node.app.transfers.types import (
    DELIVERED,
    DIRECTIVE_KINDS,
    DOWN_KINDS,
    OWNERSHIP_KINDS,
    PENDING,
    REFUSED,
    UP_KINDS,
    Accepted,
    Backoff,
    DestinationState,
    Directive,
    DirectiveAccepted,
    OutboxRow,
    Outgoing,
    Transfer,
)

__all__ = [
    "DELIVERED",
    "DIRECTIVE_KINDS",
    "DOWN_KINDS",
    "OWNERSHIP_KINDS",
    "PENDING",
    "REFUSED",
    "UP_KINDS",
    "Accepted",
    "AutoEscalation",
    "Backoff",
    "DestinationState",
    "Directive",
    "DirectiveAccepted",
    "OutboxRow",
    "Outgoing",
    "Transfer",
    "TransferService",
]
