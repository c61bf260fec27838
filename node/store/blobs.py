"""The node's attachment bytes on its file system: node.app.attachments.BlobStore.

Content-addressed: a file lives at `<root>/sha256/<first 2 hex>/<64 hex>`, so the same
photo attached twice (or fetched from another tier and cached) is stored once, and a
file's name is its own integrity check. Writing never leaves a partial file where a reader
looks: bytes go to a temp file under `<root>/tmp/` (same file system), are hashed on the
way, `fsync`ed, and only then renamed into place (`os.replace`, atomic), followed by an
fsync of the directory. A `Staging` that is discarded — an upload refused for its size or
type, a transfer cut mid-stream, a hash that does not match — removes its temp file; the
temp directory is swept of leftovers at start (`sweep_temp`). `delete` removes only
files the caller says nothing references.

Unreferenced files. An upload commits its bytes before the transaction that records
them, and a failed transaction leaves them (deleting them would race with a concurrent
upload of the same bytes that found them present). `sweep(older_than, referenced=...)`
removes the files the caller's `referenced` says nothing references whose last write
(mtime) is older than `older_than` (node/app/attachments.py: a day). A commit of bytes
that are already present touches the file, so a file an upload is about to reference is
never that old; a file is moved aside (`tmp/`) before the last check and moved back if it
turned out referenced after all.

Derived files (thumbnails, keyed by the source's hash and the size) are cached under
`<root>/derived/`, written the same way (temp, fsync, rename, directory fsync).

An S3-compatible object store (MinIO, Ceph RGW, an OSS bucket) is the obvious second
implementation of the same protocol: `Staging` would stream to a local temp file exactly
as here (the hash must be known before the object is named), then `commit` would upload it
with a multipart upload to the key `sha256/<hex>` — `put_object` only if `head_object`
says it is absent — and `open` would return the body stream of `get_object`; `exists` is
`head_object`. Not implemented: no maintained S3 client (boto3, minio) is installed here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterable, Callable, Container, Iterable
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from node.domain.attachments import SHA256_HEX, SNIFF_BYTES
from node.domain.errors import RuleViolation

#: a temp file older than this at start is a leftover of a crash
_STALE_S = 3600.0


class HashMismatch(RuleViolation):
    """Bytes that do not hash to what was expected (a peer's corrupted or cut transfer)."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__("attachment_hash_mismatch", expected=expected, actual=actual)


class Staging:
    """One file being written: `write` chunks (hashed, counted), then `commit` or
    `discard`. Used as a context manager, anything not committed is discarded."""

    def __init__(self, store: FsBlobStore) -> None:
        self._store = store
        self.path = store.root / "tmp" / f"{secrets.token_hex(16)}.part"
        self._file: BinaryIO | None = open(self.path, "xb")  # noqa: SIM115 - closed below
        self._hash = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.committed: str | None = None

    def write(self, data: bytes | memoryview) -> None:
        assert self._file is not None, "staging already closed"
        if len(self.head) < SNIFF_BYTES:
            self.head += bytes(data[:SNIFF_BYTES - len(self.head)])
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def temp_path(self) -> Path:
        """The temp file (complete once the writes are done), e.g. to list a ZIP's members."""
        assert self._file is not None
        self._file.flush()
        return self.path

    def commit(self, expected_sha256: str | None = None) -> str:
        """fsync, check the hash if one is expected, rename into place; the hash."""
        assert self._file is not None, "staging already closed"
        digest = self.sha256
        if expected_sha256 is not None and digest != expected_sha256:
            self.discard()
            raise HashMismatch(expected_sha256, digest)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._close()
        target = self._store.path_of(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.utime(target)  # the same bytes are there already: fresh again, so `sweep`
            self.path.unlink(missing_ok=True)  # leaves them to the upload that commits them
        except FileNotFoundError:
            os.replace(self.path, target)
            _fsync_dir(target.parent)
        self.committed = digest
        return digest

    def discard(self) -> None:
        self._close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.committed is None:
            self.discard()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class FsBlobStore:
    """node.app.attachments.BlobStore under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("sha256", "tmp", "derived"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        if not SHA256_HEX.fullmatch(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / "sha256" / sha256[:2] / sha256

    def stage(self) -> Staging:
        return Staging(self)

    def put(self, chunks: Iterable[bytes], *, expected_sha256: str | None = None) -> str:
        """Store what a (sync) iterator yields; its hash. Nothing stays if it fails."""
        with self.stage() as staging:
            for chunk in chunks:
                staging.write(chunk)
            return staging.commit(expected_sha256)

    async def put_async(self, chunks: AsyncIterable[bytes], *,
                        expected_sha256: str | None = None, max_bytes: int | None = None
                        ) -> str:
        """Store what an async iterator yields (a peer's stream); its hash. A cut stream,
        too many bytes or the wrong hash leave nothing."""
        import asyncio

        with self.stage() as staging:
            async for chunk in chunks:
                if max_bytes is not None and staging.size + len(chunk) > max_bytes:
                    raise HashMismatch(expected_sha256 or "", "oversized")
                await asyncio.to_thread(staging.write, chunk)
            return await asyncio.to_thread(staging.commit, expected_sha256)

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path_of(sha256), "rb")

    def size_of(self, sha256: str) -> int:
        return self.path_of(sha256).stat().st_size

    def delete(self, sha256: str, *, referenced: Container[str]) -> bool:
        """Remove a file nothing references; False (and kept) if something does."""
        if sha256 in referenced:
            return False
        self.path_of(sha256).unlink(missing_ok=True)
        return True

    def sweep(self, older_than: timedelta, *, referenced: Callable[[str], bool]) -> int:
        """Remove the files nothing references (`referenced(sha) is False`) last written
        longer than `older_than` ago; how many."""
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for path in sorted((self.root / "sha256").glob("??/*")):
            sha = path.name
            if not SHA256_HEX.fullmatch(sha):
                continue
            try:
                if path.stat().st_mtime >= cutoff or referenced(sha):
                    continue
                aside = self.root / "tmp" / f"{sha}.swept"
                os.replace(path, aside)
            except FileNotFoundError:
                continue
            if referenced(sha) or aside.stat().st_mtime >= cutoff:
                os.replace(aside, path)  # referenced (or touched) meanwhile: keep it
                continue
            aside.unlink(missing_ok=True)
            removed += 1
        return removed

    # derived files: thumbnails

    def _derived(self, key: str) -> Path:
        if not key.replace("-", "").replace(".", "").isalnum() or ".." in key:
            raise ValueError("bad derived key")
        return self.root / "derived" / key

    def open_derived(self, key: str) -> BinaryIO | None:
        try:
            return open(self._derived(key), "rb")
        except FileNotFoundError:
            return None

    def put_derived(self, key: str, data: bytes) -> None:
        """Write a derived file as `put` writes a blob: temp file, fsync, rename, directory
        fsync — a reader never sees half a thumbnail."""
        target = self._derived(key)
        with self.stage() as staging:
            staging.write(data)
            assert staging._file is not None
            staging._file.flush()
            os.fsync(staging._file.fileno())
            staging._close()
            os.replace(staging.path, target)
            staging.committed = key
        _fsync_dir(target.parent)

    def sweep_temp(self, *, older_than_s: float = _STALE_S) -> int:
        """Remove temp files left by a crash; how many."""
        cutoff = time.time() - older_than_s
        removed = 0
        for leftover in (self.root / "tmp").glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
        return removed

    def temp_files(self) -> list[Path]:
        """The temp files now (tests: a refused upload or a cut transfer leaves none)."""
        return sorted((self.root / "tmp").glob("*.part"))

    def blob_count(self) -> int:
        return sum(1 for p in (self.root / "sha256").rglob("*") if p.is_file())
