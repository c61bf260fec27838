"""Wiring of publications and rule floors, for the composition root (node/runtime.py).

`build_rules(config, store, clock)` makes the node's `PublicationService` (the `rules` kind
registered; other kinds, e.g. the tag library's `tags`, register on it in `build`) and its
`RulesService`; `keep_in_force(rules, ...)` hands the rules in force to the use cases that
decide with them, now and whenever a floor arrives or an administrator changes them;
`arm(publications, tls)` gives the service the node's TLS identity once it is loaded (sign
own documents, verify the ancestors' against the CA); `check_start(rules)` refuses to start
with own rules looser than a stored floor, naming it (`refusal`: the exit message).
"""

from __future__ import annotations

from typing import Any

from federation.certs import TlsMaterial
from federation.publications import CaVerifier, TlsSigner
from node.app.floors import FloorsKind, RulesService, node_rules_of
from node.app.ports import Clock
from node.app.publications import PublicationService
from node.config import Config
from node.domain.errors import DomainError
from node.domain.lifecycle import Rules
from node.domain.topology import place_of_unit
from node.i18n import error_message
from node.store.publications import SqlPublications
from node.store.repo import Store


def build_rules(config: Config, store: Store, clock: Clock, rules: Rules
                ) -> tuple[PublicationService, RulesService]:
    place = place_of_unit(config.node.code, parent=config.node.parent,
                          children=config.node.children, level=config.node.level)
    publications = PublicationService(store=SqlPublications(store), node=config.node.code,
                                      ancestors=place.ancestors, clock=clock, signer=None,
                                      verifier=None)
    service = RulesService(
        publications=publications, base=rules, clock=clock,
        configured=node_rules_of(rules, revisit_share=config.revisit.share,
                                 urge_interval_hours=config.urge.interval_hours))
    publications.register(FloorsKind(config.floors.body(), applied=service.floor_arrived))
    return publications, service


def keep_in_force(service: RulesService, *holders: Any, share_holders: tuple[Any, ...] = ()
                  ) -> None:
    """Set `.rules` of every holder (and the revisit share of `share_holders`, by their
    attribute `share` or `_revisit_share`) to the rules in force, now and on change."""
    def apply(rules: Rules, share: float) -> None:
        for holder in holders:
            holder.rules = rules
        for holder in share_holders:
            if hasattr(holder, "share"):
                holder.share = share
            if hasattr(holder, "_revisit_share"):
                holder._revisit_share = share

    service.on_rules.append(apply)
    apply(*service.in_force())


def arm(publications: PublicationService, tls: TlsMaterial | None) -> None:
    """Sign and verify with the node's TLS identity (None: insecure development mode)."""
    if tls is not None:
        publications.signer = TlsSigner(tls)
        publications.verifier = CaVerifier(tls.ca_pem)


def check_start(service: RulesService) -> None:
    """RuleViolation("rule_looser_than_floor") naming the floor when the node's own rules
    are looser than one (`zhitong node run` exits with `refusal`)."""
    service.check_start()


def refusal(exc: DomainError) -> SystemExit:
    return SystemExit(f"zhitong: refusing to start: {error_message(exc, 'en')}")
