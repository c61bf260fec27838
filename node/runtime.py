"""The composition root: builds one node's parts from its configuration and runs it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from node.app.auth import TokenSigner, load_or_create_secret
from node.app.clock import SystemClock
from node.app.ports import Clock
from node.app.service import AccountService, IssueService
from node.config import Config
from node.store import migrate
from node.store.db import make_engine
from node.store.repo import Store
from node.web.api import Services, create_app

log = logging.getLogger("zhitong.node")


@dataclass(frozen=True, kw_only=True, slots=True)
class Node:
    config: Config
    engine: Engine
    services: Services
    app: FastAPI


def build(config: Config, *, clock: Clock | None = None, engine: Engine | None = None) -> Node:
    clock = clock or SystemClock()
    engine = engine or make_engine(config.database_url)
    if config.database.auto_migrate:
        migrate.upgrade(engine)
    else:
        current, head = migrate.current_revision(engine), migrate.head_revision()
        if current != head:
            raise RuntimeError(
                f"database schema is at {current}, the code needs {head}: run "
                "`zhitong db upgrade --config …` first"
            )
    store = Store(engine)
    services = Services(
        node=config.node.code,
        node_name=config.node.name,
        issues=IssueService(
            store=store,
            node=config.node.code,
            rules=config.rules(),
            clock=clock,
            revisit_share=config.revisit.share,
            min_sample=config.metrics.min_sample,
        ),
        accounts=AccountService(store=store, clock=clock),
        tokens=TokenSigner(
            load_or_create_secret(config.secret_path),
            ttl_seconds=config.security.token_ttl_minutes * 60,
        ),
    )
    return Node(config=config, engine=engine, services=services, app=create_app(services))


def serve(node: Node) -> None:
    cfg = node.config
    log.info(
        "node %s %s serving on http://%s:%d/api/v1/ (database %s)",
        cfg.node.code,
        cfg.node.name,
        cfg.http.host,
        cfg.http.port,
        node.engine.url.render_as_string(hide_password=True),
    )
    uvicorn.run(node.app, host=cfg.http.host, port=cfg.http.port, log_level="warning")
    node.engine.dispose()
