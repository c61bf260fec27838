"""Attachments (附件) of the issues: record, list, read, and fetch across tiers.

How it works:

* **Upload** (`check_upload`, then `record`). The HTTP adapter first asks `check_upload`
  whether the principal may attach to the issue at all — before a byte of the body is read
  — then streams the body into a `Staging` of the node's `BlobStore` (hashed and counted on
  the way, the per-file limit checked while it streams), lets the domain detect the type
  from the content (node/domain/attachments.py) and calls `record`. `record` puts the bytes
  in place (fsync + rename to their SHA-256 path) and then, in ONE transaction, checks
  again (the issue, the per-issue limit), decides the `attachment_added` event with the
  lifecycle (node/domain/lifecycle.py `AddAttachment`) and writes the new snapshot and the
  event; the attachments row is written by the store's projection of that event
  (node/store/attachments.py), in the same transaction. If the transaction fails the
  bytes stay: they may be the very bytes a concurrent upload (of another issue, say) found
  already in place and is about to reference, and deleting them would leave that row
  without its file. An unreferenced file is harmless; the cleanup is
  `sweep_unreferenced`, which removes files no row references whose last write is older
  than a day (`BlobStore.sweep`; a commit of bytes already present refreshes their time,
  so a file an upload is about to reference is never that old). A refusal before the
  bytes are committed (size, type, a malformed body) leaves nothing.
* **Who may attach** (`_may_write`, checked before the body is read and again in the
  transaction). An enterprise: to its own issue, never with `ref` (a document of an
  event is staff's; with `ref` to a resolve event it would read as the reply). Staff:
  whoever may work the issue here — `authorize` (node/app/policy.py: role, this node the
  owner, unit queue, a handler's own department) allows at least one of the working
  actions `WORKING` (triage, assign, start, resolve, reject), whatever the issue's
  state (a document may follow the step, the reply after the resolve); an intake,
  supervisor, reviewer or viewer account, or a handler of another department, may not.
  A `ref` to a resolve event (a reply document, which the enterprise reads) needs the
  right to resolve it: `authorize(..., Action.RESOLVE, ...)`. The lifecycle's own state
  (no file on an escalated issue) is decided after.
* **Reading** (`list_of`, `find`): staff by role and unit exactly as for the issue
  (node/app/policy.py `check_can_view`; a viewer never), an enterprise its own issue's
  files that it uploaded or that are attached to a reply (`readable_by_enterprise`);
  anything else reads as "not found", like an unknown id.
* **Across tiers** (`ensure_local`, `servable`). The metadata travels with the event, so a
  replica (the city) or a new owner (an escalation) has the row but maybe not the bytes.
  `ensure_local` fetches them on demand from the next node on the way to the attachment's
  origin (`RemoteBlobs`: gRPC FetchAttachment, streamed in chunks), verifies the SHA-256
  while writing a temp file and renames it into the BlobStore only if it matches — a cut
  or corrupted transfer leaves nothing. `servable` is the serving side's check: a caller
  (its certificate's node code) gets an attachment only if the issue is one it holds
  legitimately — a child related to the issue (origin, came_from, owner), or the parent
  when that parent keeps full replicas (a city above a county); the province only for an
  issue it owns. A node that does not hold the bytes itself fetches them first (a relay).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import BinaryIO, Protocol

from node.app.policy import Principal, Role, authorize, check_can_view, not_found
from node.app.ports import IssueUnit
from node.app.service import IssueService
from node.domain.attachments import (
    IMAGES,
    AttachmentMeta,
    Limits,
    check_issue_total,
    clean_name,
    payload_of,
    readable_by_enterprise,
)
from node.domain.errors import DomainError, Forbidden, NotFound, RuleViolation, ValidationError
from node.domain.issue import Action, Issue, event_id_of
from node.domain.lifecycle import AddAttachment, decide, evolve
from node.domain.topology import full_children, next_hop
from node.domain.validation import division_level

# --------------------------------------------------------------------------- ports


class Staging(Protocol):
    """One file being written into a BlobStore (node/store/blobs.py)."""

    size: int
    head: bytes

    @property
    def sha256(self) -> str: ...

    def write(self, data: bytes | memoryview) -> None: ...

    def temp_path(self) -> object:
        """Where the bytes written so far are (a path the adapter may read)."""
        ...

    def commit(self, expected_sha256: str | None = None) -> str: ...

    def discard(self) -> None: ...

    def __enter__(self) -> Staging: ...

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class BlobStore(Protocol):
    """Content-addressed bytes (SHA-256): the file system (node/store/blobs.py) or, as the
    second implementation, an S3-compatible object store (documented there)."""

    def stage(self) -> Staging: ...

    async def put_async(self, chunks: AsyncIterator[bytes], *,
                        expected_sha256: str | None = None,
                        max_bytes: int | None = None) -> str: ...

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def delete(self, sha256: str, *, referenced: set[str]) -> bool: ...

    def sweep(self, older_than: timedelta, *, referenced: Callable[[str], bool]) -> int:
        """Remove the files `referenced` says nothing references whose last write is older
        than `older_than`; how many."""
        ...

    def open_derived(self, key: str) -> BinaryIO | None: ...

    def put_derived(self, key: str, data: bytes) -> None: ...


class AttachmentUnit(IssueUnit, Protocol):
    def attachments_of(self, issue_id: str) -> list[AttachmentMeta]: ...

    def attachment(self, attachment_id: str) -> AttachmentMeta | None: ...

    def attachment_of_sha(self, issue_id: str, sha256: str) -> AttachmentMeta | None: ...

    def sha_referenced(self, sha256: str) -> bool:
        """Whether an attachment row or a forwarded file (`forwarded_attachment`) names
        the bytes."""

    def forwarded_attachment(self, issue_id: str, sha256: str) -> AttachmentMeta | None:
        """An enterprise's file uploaded here for an issue owned above, as its queued
        transfer to the owner names it."""


class AttachmentStore(Protocol):
    def write(self) -> AbstractContextManager[AttachmentUnit]: ...

    def read(self) -> AbstractContextManager[AttachmentUnit]: ...


class RemoteBlobs(Protocol):
    """A peer's attachment bytes, streamed (federation FetchAttachment)."""

    def fetch_attachment(self, peer: str, sha256: str, issue_id: str
                         ) -> AsyncIterator[bytes]: ...


# --------------------------------------------------------------------------- service

#: the actions whose right (any one of them) lets staff attach a working document
WORKING: tuple[Action, ...] = (Action.TRIAGE, Action.ASSIGN, Action.START, Action.RESOLVE,
                               Action.REJECT)
#: an unreferenced file younger than this is kept by `sweep_unreferenced`
SWEEP_AFTER = timedelta(days=1)


class KeyedLocks:
    """One lock per key, held while anyone uses it (the first thumbnail of an image is
    made once, however many ask for it at the same time)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def users(self, key: str) -> int:
        """How many hold or wait for `key` now (tests)."""
        with self._guard:
            return self._locks.get(key, (None, 0))[1]



@dataclass(kw_only=True, slots=True)
class AttachmentService:
    store: AttachmentStore
    blobs: BlobStore
    issues: IssueService  # the node, its clock and the rules in force
    limits: Limits = field(default_factory=Limits)
    remote: RemoteBlobs | None = None
    #: image bytes → a JPEG thumbnail (the adapter's image library), None: none made
    thumbnailer: Callable[[BinaryIO], bytes] | None = None
    #: this node's parent and children (who may fetch from it: `servable`)
    parent: str | None = None
    children: frozenset[str] = frozenset()
    #: an enterprise's file for an issue owned above: the metadata forwarded to the owner
    #: (TransferService.request_upward); the transfer id. None: refused as a replica
    forward: Callable[[Principal, str, AddAttachment], str] | None = None
    thumbnail_locks: KeyedLocks = field(default_factory=KeyedLocks, repr=False)

    @property
    def node(self) -> str:
        return self.issues.node

    # ------------------------------------------------------------------ upload

    def check_upload(self, principal: Principal, key: str) -> Issue:
        """Whether `principal` may attach a file to `key` here (before the body is read)."""
        with self.store.read() as unit:
            issue = unit.load_issue(key)
            if issue is None:
                raise not_found(key)
            if self._forwards(principal, issue):
                check_can_view(principal, issue, key)
            else:
                self._may_write(principal, issue, key)
            return issue

    def _forwards(self, principal: Principal, issue: Issue) -> bool:
        """An enterprise's file for its issue now owned above this node (escalated): kept
        here, its metadata forwarded to the owner (see the module: "Across tiers")."""
        return (self.forward is not None and principal.role is Role.ENTERPRISE
                and issue.owner != self.node and issue.owner not in self.children)

    def _may_write(self, principal: Principal, issue: Issue, key: str, *,
                   ref_kind: str | None = None, with_ref: bool = False) -> None:
        """Whether `principal` may attach to `issue` (with a `ref` to an event of
        `ref_kind`): see the module's "Who may attach"."""
        check_can_view(principal, issue, key)  # enterprise: its own; staff: pool, queue
        if issue.owner != self.node:
            raise Forbidden("replica_read_only", owner=issue.owner)
        if principal.role is Role.ENTERPRISE:
            if with_ref:
                raise Forbidden("role_not_permitted", permission="ref",
                                role=principal.role.value)
            return
        if ref_kind == Action.RESOLVE.value:
            authorize(principal, Action.RESOLVE, issue, self.node, key)
            return
        refusals: list[DomainError] = []
        for action in WORKING:
            try:
                authorize(principal, action, issue, self.node, key)
                return
            except (Forbidden, NotFound) as exc:
                refusals.append(exc)
        scoped = [e for e in refusals if e.code != "role_not_permitted"]
        if scoped:
            raise scoped[0]  # the role may work issues, not this one (department, unit)
        raise Forbidden("role_not_permitted", permission="attach", role=principal.role.value)

    def record(self, principal: Principal, key: str, staging: Staging, *, name: str | None,
               content_type: str, ref: int | None = None
               ) -> tuple[AttachmentMeta, str | None]:
        """Put the staged bytes in place and record them on the issue: one event, one row.
        Everything the record checks is checked first, before the bytes are put in place,
        so a refusal stores nothing; only a write that fails after that (a race with
        another writer of the issue) leaves the bytes (see the module: `sweep_unreferenced`).
        Returns the metadata and, for an enterprise's file forwarded to the owner above,
        the transfer's id (None: recorded here)."""
        clean = clean_name(name)
        with self.store.read() as unit:
            issue = unit.load_issue(key)
            if issue is None:
                raise not_found(key)
            if self._forwards(principal, issue):
                check_can_view(principal, issue, key)
                if ref is not None:
                    raise Forbidden("role_not_permitted", permission="ref",
                                    role=principal.role.value)
                check_issue_total(sum(a.size for a in unit.attachments_of(issue.id)),
                                  staging.size, self.limits)
                return self._forward(principal, issue, staging, name=clean,
                                     content_type=content_type)
            _, ref_kind = self._ref(unit, principal, issue, key, ref)
            self._may_write(principal, issue, key, ref_kind=ref_kind, with_ref=ref is not None)
            if unit.transfer_pending(issue.id):
                raise RuleViolation("transfer_pending", issue_id=issue.id)
            check_issue_total(sum(a.size for a in unit.attachments_of(issue.id)),
                              staging.size, self.limits)
        sha = staging.commit()
        return self._record(principal, key, sha=sha, size=staging.size, name=clean,
                            content_type=content_type, ref=ref), None

    def _forward(self, principal: Principal, issue: Issue, staging: Staging, *, name: str,
                 content_type: str) -> tuple[AttachmentMeta, str]:
        """Keep the bytes here (this node is the file's origin: the owner fetches them from
        here, through the tiers between) and queue the metadata to the owner, where the
        `attachment_added` event is recorded once; it comes back down with the issue's
        status. A refusal there leaves the bytes unreferenced here (swept)."""
        assert self.forward is not None
        sha = staging.commit()
        actor = principal.actor
        meta = AttachmentMeta(
            id=f"{self.node}-{secrets.token_hex(16)}", issue_id=issue.id, sha256=sha,
            size=staging.size, content_type=content_type, name=name, origin=self.node,
            uploaded_by=actor.id, uploaded_at=self.issues.clock.now(),
            uploader_kind=actor.kind.value)
        transfer_id = self.forward(principal, issue.id,
                                   AddAttachment(attachment=payload_of(meta)))
        return meta, transfer_id

    @staticmethod
    def _ref(unit: AttachmentUnit, principal: Principal, issue: Issue, key: str,
             ref: int | None) -> tuple[str | None, str | None]:
        """The id and kind of the event `ref` (a version of the issue) names."""
        if ref is None or principal.role is Role.ENTERPRISE:
            return None, None  # an enterprise's `ref` is refused by `_may_write`
        check_can_view(principal, issue, key)  # an issue it may not see: 404 first
        events = {s.event.version: s.event for s in unit.events_of(issue.id)}
        if ref not in events:
            raise ValidationError("attachment_malformed", field="ref", reason="ref")
        return event_id_of(issue.id, ref), events[ref].kind

    def sweep_unreferenced(self, older_than: timedelta = SWEEP_AFTER) -> int:
        """Remove the files no attachment references that were last written longer ago than
        `older_than` (what failed uploads leave); how many."""

        def referenced(sha: str) -> bool:
            with self.store.read() as unit:
                return unit.sha_referenced(sha)

        return self.blobs.sweep(older_than, referenced=referenced)

    def _record(self, principal: Principal, key: str, *, sha: str, size: int, name: str,
                content_type: str, ref: int | None) -> AttachmentMeta:
        now = self.issues.clock.now()
        with self.store.write() as unit:
            issue = unit.load_issue(key, for_update=True)
            if issue is None:
                raise not_found(key)
            ref_id, ref_kind = self._ref(unit, principal, issue, key, ref)
            self._may_write(principal, issue, key, ref_kind=ref_kind, with_ref=ref is not None)
            if unit.transfer_pending(issue.id):
                raise RuleViolation("transfer_pending", issue_id=issue.id)
            existing = sum(a.size for a in unit.attachments_of(issue.id))
            check_issue_total(existing, size, self.limits)
            if not self.blobs.exists(sha):  # swept since the commit: the upload is lost
                raise RuleViolation("attachment_unavailable", origin=self.node)
            actor = principal.actor
            meta = AttachmentMeta(
                id=f"{self.node}-{secrets.token_hex(16)}", issue_id=issue.id, sha256=sha,
                size=size, content_type=content_type, name=name, origin=self.node,
                uploaded_by=actor.id, uploaded_at=now, ref=ref_id, ref_kind=ref_kind,
                uploader_kind=actor.kind.value)
            event = decide(issue, AddAttachment(attachment=payload_of(meta)), actor=actor,
                           now=now, rules=self.issues.rules)
            unit.update_issue(evolve(issue, event), expected_version=issue.version)
            unit.append_event(self.node, event, own=True)  # the row: its projection
        return meta

    # ------------------------------------------------------------------ reading

    def list_of(self, principal: Principal, key: str) -> list[AttachmentMeta]:
        with self.store.read() as unit:
            issue = unit.load_issue(key)
            if issue is None:
                raise not_found(key)
            check_can_view(principal, issue, key)
            found = unit.attachments_of(issue.id)
        return [a for a in found if self._readable(principal, a)]

    def find(self, principal: Principal, attachment_id: str) -> AttachmentMeta:
        """The attachment if `principal` may read it; else "not found", like an unknown id."""
        with self.store.read() as unit:
            meta = unit.attachment(attachment_id)
            issue = unit.load_issue(meta.issue_id) if meta is not None else None
        if meta is None or issue is None:
            raise NotFound("attachment_not_found", attachment=attachment_id)
        try:
            check_can_view(principal, issue)
        except (NotFound, Forbidden) as exc:
            if principal.role is Role.ENTERPRISE or isinstance(exc, NotFound):
                raise NotFound("attachment_not_found", attachment=attachment_id) from None
            raise
        if not self._readable(principal, meta):
            raise NotFound("attachment_not_found", attachment=attachment_id)
        return meta

    @staticmethod
    def _readable(principal: Principal, meta: AttachmentMeta) -> bool:
        if principal.role is Role.ENTERPRISE:
            return readable_by_enterprise(meta, principal.credit_code)
        return True  # staff: check_can_view of the issue decided

    def open(self, meta: AttachmentMeta) -> BinaryIO:
        return self.blobs.open(meta.sha256)

    def held(self, meta: AttachmentMeta) -> bool:
        return self.blobs.exists(meta.sha256)

    async def ensure_local(self, meta: AttachmentMeta) -> None:
        """Have the bytes here: fetched from the next node towards their origin, verified
        against the hash, cached; `attachment_unavailable` if that node cannot give them."""
        if self.blobs.exists(meta.sha256):
            return
        peer = next_hop(self.node, meta.origin) if meta.origin != self.node else None
        if peer is None or self.remote is None:
            raise RuleViolation("attachment_unavailable", origin=meta.origin)
        try:
            await self.blobs.put_async(self.remote.fetch_attachment(peer, meta.sha256,
                                                                   meta.issue_id),
                                       expected_sha256=meta.sha256, max_bytes=meta.size)
        except DomainError:
            raise
        except Exception as exc:  # the peer down, the stream cut: nothing was kept
            raise RuleViolation("attachment_unavailable", origin=meta.origin) from exc

    def thumbnail(self, meta: AttachmentMeta, *, size: int = 256) -> bytes:
        """A JPEG thumbnail of an image attachment, made once and cached by its hash."""
        if meta.content_type not in IMAGES or self.thumbnailer is None:
            raise NotFound("attachment_not_image", attachment=meta.id)
        key = f"{meta.sha256}-{size}.jpg"
        cached = self.blobs.open_derived(key)
        if cached is None:
            with self.thumbnail_locks.hold(key):  # made once, not by every first request
                cached = self.blobs.open_derived(key)
                if cached is None:
                    with self.blobs.open(meta.sha256) as source:
                        data = self.thumbnailer(source)
                    self.blobs.put_derived(key, data)
                    return data
        with cached:
            return cached.read()

    # ------------------------------------------------------------------ serving peers

    def servable(self, caller: str, sha256: str, issue_key: str) -> AttachmentMeta:
        """The attachment `caller` (a peer node) may fetch, or `attachment_fetch_refused`
        / `attachment_not_found`."""
        with self.store.read() as unit:
            issue = unit.load_issue(issue_key)
            meta = None if issue is None else (
                unit.attachment_of_sha(issue.id, sha256)
                or unit.forwarded_attachment(issue.id, sha256))
        if issue is None or meta is None:
            raise NotFound("attachment_not_found", attachment=sha256[:16])
        parent, children = self.parent, self.children
        related = caller in (issue.origin, issue.came_from, issue.owner)
        if caller in children:
            allowed = related
        elif caller == parent:
            # the parent keeps full replicas only above a county (a city); the province
            # only gets a file of an issue it owns
            allowed = caller == issue.owner or full_children(division_level(caller))
        else:
            allowed = False
        if not allowed:
            raise Forbidden("attachment_fetch_refused", caller=caller)
        return meta
