"""The on-disk spool: events survive a server outage and a process restart.

Layout under ``spool_dir``::

    main/                 the area of the first process to open the spool
      lock                flock()ed by the owning process for as long as it runs
      cursor              {"segment": n, "offset": k}: everything before it was acknowledged
      0000000000000001.seg
      0000000000000002.seg
    p-<pid>-<random>/     the area of a forked child, or of a second process sharing spool_dir

A segment is a sequence of records ``<u32 length><u32 crc32><event JSON>``, only ever appended to.
Only the sender thread touches the files; ``capture()`` never does.

- Events are written to the spool before they are sent, in capture order, and read back in that
  order; the cursor moves past a batch only once the server has acknowledged it (or refused
  it for good), then fully consumed segments are deleted.
- Each process owns one area, locked with ``flock``. A process that starts on a spool whose
  ``main`` area is free takes it over and sends what its predecessor left. Areas whose lock is
  free (their process died: a crashed worker, a child that exited without flushing) are adopted
  and drained by any live process on the same ``spool_dir`` once its own area is empty.
- Crash semantics: an event is on disk once the sender has drained it from memory, normally
  within ``flush_interval`` of ``capture()`` (events still in memory die with a killed
  process). A written record survives a process crash; with ``fsync=True`` (the default) it also
  survives an OS crash or power loss, because each group of records is fsynced before any of it
  is sent. A crash after the server acknowledged a batch but before the cursor was written
  resends that batch on restart: the events keep their uuids and the server stores each once.
  A torn last record (a crash mid-write) is truncated when the area is next opened; a record
  whose checksum fails is skipped with the rest of its segment and counted in
  ``Stats.spool_corrupt``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import struct
import time
import zlib
from io import FileIO
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

import msgspec

from devflow_sdk._log import logger

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: areas are not locked (one process per spool)
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from devflow_sdk._stats import Counters

__all__ = ["Position", "Spool"]

_HEADER = struct.Struct("<II")
_MAX_RECORD = 2 * 1_048_576  # a length beyond any event we write means the header is damaged
_MAIN = "main"


class Position(NamedTuple):
    segment: int
    offset: int


class _Cursor(msgspec.Struct):
    segment: int
    offset: int


def _seg_name(n: int) -> str:
    return f"{n:016d}.seg"


def _lock(path: Path) -> int | None:
    """Open and flock ``path`` (created if missing): the fd, or None if another process has it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Area:
    """One directory of segments, owned (locked) by this process."""

    def __init__(self, path: Path, lock_fd: int, *, fsync: bool, counters: Counters) -> None:
        self.path = path
        self.lock_fd: int | None = lock_fd
        self.fsync = fsync
        self.counters = counters
        self.segments: list[int] = sorted(
            int(p.stem) for p in path.glob("*.seg") if p.stem.isdigit()
        )
        self.cursor = self._read_cursor()
        self.records = 0
        self.bytes = 0
        # Unbuffered: a forked child that drops its copy must have no buffered bytes to flush.
        self._wf: FileIO | None = None
        self._wseg = 0
        self._wsize = 0
        self._rf: BinaryIO | None = None
        self._rseg = -1
        self._rpos = self.cursor
        self._peeked: list[tuple[bytes, Position]] = []
        self._recover()

    # -- opening -------------------------------------------------------------------------------

    def _read_cursor(self) -> Position:
        try:
            cur = msgspec.json.decode((self.path / "cursor").read_bytes(), type=_Cursor)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return Position(self.segments[0] if self.segments else 0, 0)
        return Position(cur.segment, cur.offset)

    def _recover(self) -> None:
        """Delete consumed segments, truncate a torn tail, count what is left to send."""
        for seg in [s for s in self.segments if s < self.cursor.segment]:
            (self.path / _seg_name(seg)).unlink(missing_ok=True)
        self.segments = [s for s in self.segments if s >= self.cursor.segment]
        if self.segments and self.cursor.segment < self.segments[0]:
            self.cursor = self._rpos = Position(self.segments[0], 0)
        for seg in self.segments:
            start = self.cursor.offset if seg == self.cursor.segment else 0
            records, good_end = self._scan(seg, start)
            self.records += records
            self.bytes += good_end - start
        self._wseg = max(self.segments, default=self.cursor.segment)

    def _scan(self, seg: int, start: int) -> tuple[int, int]:
        path = self.path / _seg_name(seg)
        records, pos = 0, start
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            while pos + _HEADER.size <= size:
                f.seek(pos)
                length, _ = _HEADER.unpack(f.read(_HEADER.size))
                end = pos + _HEADER.size + length
                if length > _MAX_RECORD or end > size:
                    break
                records, pos = records + 1, end
        if pos < size:
            logger.warning("spool: truncating a torn record at the end of %s", path)
            with path.open("r+b") as f:
                f.truncate(pos)
        return records, pos

    # -- writing -------------------------------------------------------------------------------

    def append(self, records: list[bytes], segment_bytes: int) -> None:
        if self._wf is None:
            self._wseg += 1
            self.segments.append(self._wseg)
            self._wf = FileIO(self.path / _seg_name(self._wseg), "ab")
            self._wsize = 0
            if self.fsync:
                _fsync_dir(self.path)
        data = b"".join(b"%b%b" % (_HEADER.pack(len(r), zlib.crc32(r)), r) for r in records)
        view = memoryview(data)
        while view:  # a raw write may be partial
            written = self._wf.write(view)
            view = view[written or 0 :]
        if self.fsync:
            os.fsync(self._wf.fileno())
        self._wsize += len(data)
        self.records += len(records)
        self.bytes += len(data)
        if self._wsize >= segment_bytes:
            self._wf.close()
            self._wf = None

    def end(self) -> Position:
        """The position just after the newest record."""
        if self._wf is not None or self._wsize:
            return Position(self._wseg, self._wsize)
        if self.segments:
            last = self.segments[-1]
            with contextlib.suppress(OSError):
                return Position(last, (self.path / _seg_name(last)).stat().st_size)
        return self.cursor

    # -- reading -------------------------------------------------------------------------------

    def peek(self, max_events: int, max_bytes: int) -> list[bytes]:
        size = sum(len(r) for r, _ in self._peeked)
        while len(self._peeked) < max_events and size < max_bytes:
            record = self._read_one()
            if record is None:
                # Everything is read: resynchronise the counts (skipped corrupt records).
                self.records = len(self._peeked)
                self.bytes = sum(len(r) + _HEADER.size for r, _ in self._peeked)
                break
            self._peeked.append(record)
            size += len(record[0])
        out: list[bytes] = []
        size = 0
        for payload, _ in self._peeked[:max_events]:
            if out and size + len(payload) > max_bytes:
                break
            out.append(payload)
            size += len(payload)
        return out

    def _read_one(self) -> tuple[bytes, Position] | None:
        while True:
            seg, off = self._rpos
            if seg not in self.segments:
                later = [s for s in self.segments if s > seg]
                if not later:
                    return None
                self._rpos = Position(later[0], 0)
                continue
            if self._rseg != seg or self._rf is None:
                if self._rf is not None:
                    self._rf.close()
                self._rf = (self.path / _seg_name(seg)).open("rb")
                self._rseg = seg
            self._rf.seek(off)
            header = self._rf.read(_HEADER.size)
            if len(header) == _HEADER.size:
                length, crc = _HEADER.unpack(header)
                payload = self._rf.read(length) if length <= _MAX_RECORD else b""
                if len(payload) == length and zlib.crc32(payload) == crc:
                    self._rpos = Position(seg, off + _HEADER.size + length)
                    return payload, self._rpos
                if len(payload) == length or length > _MAX_RECORD:
                    self._corrupt(seg)
                    continue
            # Not a whole record here: the end of the data, unless a newer segment follows.
            if seg == self.segments[-1]:
                return None
            if header:
                self._corrupt(seg)
                continue
            self._rpos = Position(self.segments[self.segments.index(seg) + 1], 0)

    def _corrupt(self, seg: int) -> None:
        logger.error("spool: a corrupt record in %s; skipping the rest of that segment", seg)
        self.counters.add("spool_corrupt")
        if seg == self._wseg and self._wf is not None:
            self._wf.close()  # never append after the damage
            self._wf = None
        later = [s for s in self.segments if s > seg]
        # With no later segment, the next append opens segment seg + 1 (or later): read there.
        self._rpos = Position(later[0] if later else seg + 1, 0)

    def commit(self, n: int) -> None:
        done, self._peeked = self._peeked[:n], self._peeked[n:]
        if not done:
            return
        self.cursor = done[-1][1]
        self.records = max(0, self.records - n)
        self.bytes = max(0, self.bytes - sum(len(r) + _HEADER.size for r, _ in done))
        tmp = self.path / "cursor.tmp"
        tmp.write_bytes(msgspec.json.encode(_Cursor(*self.cursor)))
        os.replace(tmp, self.path / "cursor")
        for seg in [s for s in self.segments if s < self.cursor.segment]:
            (self.path / _seg_name(seg)).unlink(missing_ok=True)
            self.segments.remove(seg)

    # -- closing -------------------------------------------------------------------------------

    def close(self, *, remove_dir: bool) -> None:
        for f in (self._wf, self._rf):
            if f is not None:
                f.close()
        self._wf = self._rf = None
        if self.records == 0 and not self._peeked:
            for seg in self.segments:
                (self.path / _seg_name(seg)).unlink(missing_ok=True)
            (self.path / "cursor").unlink(missing_ok=True)
            if remove_dir:
                shutil.rmtree(self.path, ignore_errors=True)
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def forget(self) -> None:
        """In a forked child: drop the parent's handles without touching its files or lock."""
        # The file objects close the child's copies of the descriptors when collected (the
        # writer is unbuffered, so nothing is written by doing so).
        self._wf = self._rf = None
        if self.lock_fd is not None:
            # Closing our copy leaves the parent's flock in place (flock locks belong to the
            # open file description, which the parent still holds).
            with contextlib.suppress(OSError):
                os.close(self.lock_fd)
            self.lock_fd = None


class Spool:
    """This process's area, plus at most one adopted orphan area being drained."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_bytes: int,
        fsync: bool,
        counters: Counters,
        segment_bytes: int = 4 * 1_048_576,
        adopt_interval: float = 10.0,
    ) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.counters = counters
        self.segment_bytes = min(segment_bytes, max(max_bytes // 4, 65_536))
        self._own: _Area | None = None
        self._adopted: _Area | None = None
        self._reading: _Area | None = None
        self._next_adopt = 0.0
        self._adopt_interval = adopt_interval  # how often an idle process looks for orphans

    @property
    def own(self) -> _Area:
        if self._own is None:
            self._own = self._open_own()
        return self._own

    def _open_own(self) -> _Area:
        self.root.mkdir(parents=True, exist_ok=True)
        main = self.root / _MAIN
        main.mkdir(exist_ok=True)
        fd = _lock(main / "lock")
        if fd is not None:
            return _Area(main, fd, fsync=self.fsync, counters=self.counters)
        # Another live process owns main: an area of our own, created under a temporary name
        # and locked before it becomes visible, so that no scanner can adopt it in between.
        tmp = self.root / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
        tmp.mkdir()
        fd = _lock(tmp / "lock")
        assert fd is not None
        path = self.root / f"p-{os.getpid()}-{secrets.token_hex(4)}"
        tmp.rename(path)
        return _Area(path, fd, fsync=self.fsync, counters=self.counters)

    # -- the sender's interface ------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) this process's area and count what it holds from before."""
        _ = self.own

    @property
    def pending(self) -> int:
        """Records on disk not yet acknowledged (own area and adopted one)."""
        own = self._own.records if self._own is not None else 0
        return own + (self._adopted.records if self._adopted is not None else 0)

    def has_room(self, nbytes: int) -> bool:
        return self.own.bytes + nbytes + _HEADER.size <= self.max_bytes

    def append(self, records: list[bytes]) -> None:
        self.own.append(records, self.segment_bytes)

    def mark(self) -> Position:
        return self.own.end()

    def reached(self, mark: Position) -> bool:
        own = self.own
        return own.records == 0 or own.cursor >= mark

    def peek(self, max_events: int, max_bytes: int) -> list[bytes]:
        own = self.own
        if own.records:
            self._reading = own
            return own.peek(max_events, max_bytes)
        adopted = self._adopted or self._adopt()
        if adopted is None:
            return []
        self._reading = adopted
        batch = adopted.peek(max_events, max_bytes)
        if not batch and adopted.records == 0:
            self._release_adopted()
        return batch

    def adopt_if_due(self) -> None:
        """When this process has nothing of its own to send, look for a dead process's area."""
        if self.own.records == 0 and self._adopted is None:
            self._adopt()

    def commit(self, n: int) -> None:
        if self._reading is not None:
            self._reading.commit(n)
            if self._reading is self._adopted and self._adopted.records == 0:
                self._release_adopted()

    def _adopt(self) -> _Area | None:
        now = time.monotonic()
        if now < self._next_adopt:
            return None
        self._next_adopt = now + self._adopt_interval
        own = self.own.path
        try:
            candidates = sorted(
                p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        except OSError:
            return None
        for path in candidates:
            if path == own or not (path / "lock").exists():
                continue
            fd = _lock(path / "lock")
            if fd is None:
                continue
            area = _Area(path, fd, fsync=self.fsync, counters=self.counters)
            if area.records:
                logger.info("spool: sending %d event(s) left in %s", area.records, path)
                self._adopted = area
                return area
            area.close(remove_dir=path.name != _MAIN)
        return None

    def _release_adopted(self) -> None:
        if self._adopted is not None:
            self._adopted.close(remove_dir=self._adopted.path.name != _MAIN)
            self._adopted = None
            self._next_adopt = 0.0  # there may be another one

    def close(self) -> None:
        """Close the files and release the locks; ``pending`` still reports what was left."""
        self._release_adopted()
        if self._own is not None and self._own.lock_fd is not None:
            self._own.close(remove_dir=self._own.path.name != _MAIN)

    def after_fork_in_child(self) -> None:
        """Forget the parent's areas; the child opens an area of its own on first use."""
        for area in (self._own, self._adopted):
            if area is not None:
                area.forget()
        self._own = self._adopted = self._reading = None
        self._next_adopt = 0.0
