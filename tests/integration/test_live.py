"""Live updates (server-sent events) over real HTTP: who is told what, resuming, slow readers.

A county node with a catalogue of units runs through `node.runtime.running()`
(tests/support/served.py, uvicorn: streaming is what is tested) on SQLite and PostgreSQL.
Streams are read from raw sockets by a thread each (`Stream`), so a test can hold a reader
that never reads, and every wait is on a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.app.policy import Principal, Role
from node.runtime import Running
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, CODE_B, COUNTY_UNITS, make_config, submit_body
from tests.support.served import serving
from tests.support.wait import until_sync

PASSWORD = "live-pass-1"
NODE = "330522"
JXJ, TAX = f"{NODE}.jxj", f"{NODE}.shuiwu"
UNITS = [*COUNTY_UNITS, {"slug": "jxj", "kind": "department", "name_zh": "经信局"}]
ACCOUNTS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "disp": ("dispatcher", []),
    "h_jxj": ("handler", [(JXJ, "handler")]),
    "h_tax": ("handler", [(TAX, "handler")]),
}


@dataclass
class Frame:
    kind: str
    data: dict[str, Any]
    id: str | None


class Stream:
    """One GET /live read from a raw socket by a thread; `frames` grows as they arrive."""

    def __init__(self, port: int, ticket: str, *, last_event_id: int | None = None,
                 after: int | None = None, read: bool = True, rcvbuf: int | None = None
                 ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        query = f"ticket={ticket}" + (f"&after={after}" if after is not None else "")
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
        self.sock.sendall((f"GET /api/v1/live?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           f"Accept: text/event-stream\r\nAccept-Encoding: gzip\r\n{extra}\r\n")
                          .encode())
        self.raw = b""
        self.frames: list[Frame] = []
        self.status: int | None = None
        self.headers = ""
        self.ended = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True) if read else None
        if self.thread is not None:
            self.thread.start()

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                with self._lock:
                    self.raw += chunk
                    self._parse(buf)
        except OSError:
            pass
        self.ended = True

    def _parse(self, buf: bytes) -> None:
        head, sep, body = buf.partition(b"\r\n\r\n")
        if not sep:
            return
        if self.status is None:
            self.status = int(head.split(b" ")[1])
            self.headers = head.decode("latin-1").lower()
        text = _dechunk(body).decode()
        frames = []
        for block in text.split("\n\n")[:-1]:
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if line.startswith(":") or ":" not in line:
                    continue
                k, _, v = line.partition(":")
                fields[k] = v.removeprefix(" ")
            if "event" in fields:
                frames.append(Frame(kind=fields["event"], data=json.loads(fields["data"]),
                                    id=fields.get("id")))
        self.frames = frames

    def of(self, kind: str) -> list[Frame]:
        with self._lock:
            return [f for f in self.frames if f.kind == kind]

    def issues(self) -> list[str]:
        return [f.data["issue_id"] for f in self.of("issue")]

    def opened(self) -> bool:
        with self._lock:
            return b"retry:" in self.raw

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self.thread is not None:
            self.thread.join(timeout=5)


def _dechunk(body: bytes) -> bytes:
    """The data of a chunked body received so far (a partial last chunk is left out)."""
    out = b""
    while True:
        size_line, sep, rest = body.partition(b"\r\n")
        if not sep:
            return out
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0 or len(rest) < size:
            return out
        out += rest[:size]
        body = rest[size + 2:]


@dataclass
class Site:
    running: Running
    client: httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)
    streams: list[Stream] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.running.http_port

    def token(self, who: str) -> str:
        if who not in self.tokens:
            resp = self.client.post("/auth/login", json={"username": who,
                                                         "password": PASSWORD})
            assert resp.status_code == 200, resp.text
            self.tokens[who] = resp.json()["access_token"]
        return self.tokens[who]

    def ok(self, who: str, method: str, path: str, body: dict[str, Any] | None = None,
           status: int = 200) -> Any:
        resp = self.client.request(method, path, json=body,
                                   headers={"Authorization": f"Bearer {self.token(who)}"})
        assert resp.status_code == status, resp.text
        return resp.json()

    def ticket(self, who: str) -> str:
        return str(self.ok(who, "POST", "/live/ticket")["ticket"])

    def stream(self, who: str, **options: Any) -> Stream:
        s = Stream(self.port, self.ticket(who), **options)
        self.streams.append(s)
        if s.thread is not None:
            until_sync(s.opened, timeout_s=10, what=f"{who}'s stream to open")
        return s

    def submitted(self, code: str = CODE_A) -> str:
        return str(self.ok("disp", "POST", "/issues", submit_body(code), status=201)["id"])

    def assigned(self, department: str, code: str = CODE_A) -> str:
        key = self.submitted(code)
        self.ok("disp", "POST", f"/issues/{key}/triage", {"tags": []})
        self.ok("disp", "POST", f"/issues/{key}/assign", {"department": department})
        return key

    def head(self) -> int:
        live = self.running.services.live
        assert live is not None
        return live.hub.source.head()


@pytest.fixture
def site(tmp_path: Path, db_url: str, clock: FakeClock) -> Iterator[Site]:
    """The node; streams still open when it stops are ended by it (`serving` fails if
    the node does not stop), then closed here."""
    config = make_config(tmp_path, units=UNITS, database={"url": db_url})
    streams: list[Stream] = []
    try:
        yield from _site(config, clock, streams)
    finally:
        for stream in streams:
            stream.close()


def _site(config: Any, clock: FakeClock, streams: list[Stream]) -> Iterator[Site]:
    with serving(config, clock=clock, http_port=0, auto_escalate_every_s=None,
                 reports_every_s=None, connect_streams=False) as running:
        accounts = running.services.accounts
        accounts.add(Principal(username="admin", role=Role.ADMIN, display_name="管理员"),
                     PASSWORD)
        for code, name in ((CODE_A, "甲企业"), (CODE_B, "乙企业")):
            accounts.add(Principal(username=code, role=Role.ENTERPRISE, display_name=name,
                                   credit_code=code), PASSWORD)
        with httpx.Client(base_url=f"http://127.0.0.1:{running.http_port}/api/v1",
                          timeout=20) as client:
            s = Site(running=running, client=client, streams=streams)
            for username, (role, units) in ACCOUNTS.items():
                s.ok("admin", "POST", "/admin/accounts", {
                    "username": username, "password": PASSWORD, "role": role,
                    "display_name": username,
                    "units": [{"unit": u, "role": r} for u, r in units]}, status=201)
            yield s


def test_staff_stream_receives_a_change_committed_after_it_connected(site: Site) -> None:
    stream = site.stream("disp")
    assert stream.status == 200
    assert "content-type: text/event-stream" in stream.headers
    assert "content-encoding" not in stream.headers  # never buffered by compression
    key = site.submitted()
    until_sync(lambda: key in stream.issues(), timeout_s=10, what="the submit event")
    frame = stream.of("issue")[0]
    assert frame.data["kind"] == "submitted"
    assert frame.data["number"] == site.ok("disp", "GET", f"/issues/{key}")["number"]
    assert frame.id == str(frame.data["seq"])
    site.ok("disp", "POST", f"/issues/{key}/triage", {"tags": []})
    until_sync(lambda: [f.data["kind"] for f in stream.of("issue")] == ["submitted", "triage"],
               timeout_s=10, what="the triage event")


def test_a_handler_is_told_only_of_its_units_queue(site: Site) -> None:
    jxj, tax = site.stream("h_jxj"), site.stream("h_tax")
    watcher = site.stream("disp")  # sees everything: tells when the fan-out is done
    theirs = site.assigned(TAX)
    mine = site.assigned(JXJ)
    site.ok("h_jxj", "POST", f"/issues/{mine}/start", {})
    until_sync(lambda: [f.data["kind"] for f in watcher.of("issue")][-1:] == ["start"],
               timeout_s=10, what="every event at the dispatcher")
    until_sync(lambda: "start" in [f.data["kind"] for f in jxj.of("issue")], timeout_s=10,
               what="the start at the handler")
    assert set(jxj.issues()) == {mine}
    assert theirs not in jxj.issues()
    assert set(tax.issues()) == {theirs}
    assert mine not in tax.issues()


def test_an_enterprise_is_told_of_its_own_issues_only(site: Site) -> None:
    a, b = site.stream(CODE_A), site.stream(CODE_B)
    watcher = site.stream("disp")
    mine, other = site.submitted(CODE_A), site.submitted(CODE_B)
    until_sync(lambda: set(watcher.issues()) == {mine, other}, timeout_s=10,
               what="both submits at the dispatcher")
    until_sync(lambda: a.issues() == [mine] and b.issues() == [other], timeout_s=10,
               what="each enterprise's own issue")
    site.ok("disp", "POST", f"/issues/{other}/triage", {"tags": []})
    until_sync(lambda: len(b.issues()) == 2, timeout_s=10, what="B's triage")
    assert a.issues() == [mine]
    assert not a.of("inbox")  # no inbox for an enterprise


def test_last_event_id_replays_what_was_missed_once_and_in_order(site: Site) -> None:
    first = site.stream("disp")
    key = site.submitted()
    until_sync(lambda: len(first.of("issue")) == 1, timeout_s=10, what="the first event")
    last_seen = int(first.of("issue")[0].id or 0)
    first.close()
    missed = [site.submitted()]
    site.ok("disp", "POST", f"/issues/{key}/triage", {"tags": []})
    missed.append(key)
    head = site.head()
    again = site.stream("disp", last_event_id=last_seen)
    later = site.submitted()  # committed after the reconnect: from the reader, once
    until_sync(lambda: later in again.issues(), timeout_s=10, what="the later event")
    seqs = [int(f.id or 0) for f in again.of("issue")]
    assert seqs == sorted(set(seqs))  # once each, in order
    assert seqs[0] > last_seen
    assert again.issues() == [*missed, later]
    assert max(seqs[:2]) == head
    # the same through `after` (a new EventSource after its ticket was used)
    third = site.stream("disp", after=last_seen)
    until_sync(lambda: len(third.of("issue")) == 3, timeout_s=10, what="the replay")
    assert third.issues() == [*missed, later]


def test_a_stream_too_far_behind_is_told_to_reload(site: Site) -> None:
    live = site.running.services.live
    assert live is not None
    live.hub.replay_limit = 2
    site.submitted()
    site.submitted()
    site.submitted()
    s = site.stream("disp", last_event_id=0)
    until_sync(lambda: bool(s.of("reload")), timeout_s=10, what="the reload message")
    reload = s.of("reload")[0]
    assert reload.data == {"seq": site.head(), "reason": "behind"}
    assert reload.id == str(site.head())
    assert not s.of("issue")
    key = site.submitted()  # the stream goes on from the head
    until_sync(lambda: s.issues() == [key], timeout_s=10, what="the next event")


def test_a_slow_reader_never_blocks_a_commit(site: Site) -> None:
    live = site.running.services.live
    assert live is not None
    live.hub.queue_size = 8
    slow = Stream(site.port, site.ticket("disp"), read=False, rcvbuf=1024)
    site.streams.append(slow)
    until_sync(lambda: live.hub.streams == 1, timeout_s=10, what="the slow stream")
    fast = site.stream("disp")
    live.hub.queue_size = 256
    # a stream that never reads holds no commit back: all 40 return (a commit waiting for
    # it would hang here until the test's timeout) and the fast reader has every one
    keys = [site.submitted() for _ in range(40)]
    until_sync(lambda: fast.issues() == keys, timeout_s=20, what="every event, fast reader")


def test_tickets_are_single_use_and_required(site: Site) -> None:
    ticket = site.ticket("disp")
    first = Stream(site.port, ticket)
    site.streams.append(first)
    until_sync(first.opened, timeout_s=10, what="the stream")
    again = Stream(site.port, ticket)
    site.streams.append(again)
    until_sync(lambda: again.status is not None, timeout_s=10, what="the refusal")
    assert again.status == 401
    assert site.client.post("/live/ticket").status_code == 401
    bogus = Stream(site.port, "nope")
    site.streams.append(bogus)
    until_sync(lambda: bogus.status is not None, timeout_s=10, what="the refusal")
    assert bogus.status == 401


def test_streams_per_account_are_limited(site: Site) -> None:
    live = site.running.services.live
    assert live is not None
    for _ in range(live.hub.per_user):
        site.stream("h_jxj")
    extra = Stream(site.port, site.ticket("h_jxj"))
    site.streams.append(extra)
    until_sync(lambda: extra.status is not None, timeout_s=10, what="the refusal")
    assert extra.status == 429
    site.stream("h_tax")  # another account is not affected

