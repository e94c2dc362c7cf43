"""The spool's files on their own (``devflow_sdk._spool``): order, cursor, areas, adoption."""

from __future__ import annotations

from pathlib import Path

from devflow_sdk._spool import Spool
from devflow_sdk._stats import Counters


def _spool(root: Path, **options: int) -> Spool:
    return Spool(
        root,
        max_bytes=options.get("max_bytes", 1 << 20),
        fsync=False,
        counters=Counters(),
        segment_bytes=options.get("segment_bytes", 1 << 20),
        adopt_interval=0.0,
    )


def _records(first: int, n: int) -> list[bytes]:
    return [b'{"i":%d}' % i for i in range(first, first + n)]


def _drain(spool: Spool, batch: int = 7, limit: int | None = None) -> list[bytes]:
    out: list[bytes] = []
    while (got := spool.peek(batch, 1 << 20)) and (limit is None or len(out) < limit):
        out += got
        spool.commit(len(got))
    return out


def test_records_come_back_in_order_across_segments_and_a_reopen(tmp_path: Path) -> None:
    spool = _spool(tmp_path, segment_bytes=64)  # a few records per segment
    for first in range(0, 100, 10):
        spool.append(_records(first, 10))
    assert spool.pending == 100
    assert len(list((tmp_path / "main").glob("*.seg"))) == 10  # rotated after each group
    assert _drain(spool, limit=40) == _records(0, 42)  # batches of 7 until 40 are taken
    spool.close()

    again = _spool(tmp_path, segment_bytes=64)
    again.open()
    assert again.pending == 58
    again.append(_records(100, 5))
    assert _drain(again) == _records(42, 63)
    assert again.pending == 0
    # Consumed segments are deleted as the cursor passes them; the last ones at close.
    assert len(list((tmp_path / "main").glob("*.seg"))) <= 2
    again.close()
    assert not list((tmp_path / "main").glob("*.seg"))


def test_an_uncommitted_peek_is_read_again(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.append(_records(0, 5))
    assert spool.peek(3, 1 << 20) == _records(0, 3)
    assert spool.peek(3, 1 << 20) == _records(0, 3)  # a retry sends the same events
    assert spool.peek(1, 1 << 20) == _records(0, 1)  # a halved batch: its first half
    spool.commit(1)
    assert spool.peek(10, 1 << 20) == _records(1, 4)
    spool.close()
    reopened = _spool(tmp_path)
    assert _drain(reopened) == _records(1, 4)  # nothing committed after the first is lost
    reopened.close()


def test_the_size_limit_is_the_unsent_bytes(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_bytes=1000)
    record = b"x" * 92  # 100 bytes with its header
    while spool.has_room(len(record)):
        spool.append([record])
    assert spool.pending == 10
    spool.peek(4, 1 << 20)
    spool.commit(4)
    assert spool.has_room(len(record))
    spool.close()


def test_a_second_process_gets_its_own_area_and_adopts_the_first_once_it_is_gone(
    tmp_path: Path,
) -> None:
    first = _spool(tmp_path)
    first.append(_records(0, 3))
    second = _spool(tmp_path)
    second.append(_records(100, 2))
    own = second.own.path
    assert own.name.startswith("p-")
    assert own != first.own.path
    # Main is locked by `first`: `second` sends its own events only.
    assert _drain(second) == _records(100, 2)
    first.close()  # the process is gone, its events still on disk
    second.adopt_if_due()
    assert second.pending == 3
    assert _drain(second) == _records(0, 3)
    second.close()
    assert not own.exists()  # an empty private area is removed
    assert (tmp_path / "main").exists()  # main stays, empty, for the next process
    assert not list((tmp_path / "main").glob("*.seg"))
