"""``FileTail``, the file-following half of the ``log`` source, on real files (no events)."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

from grace.sources.builtin._tail import Chunk, FileTail, SavedRow


def _tail(path: Path, *, read_chunk: int = 1024, max_line_bytes: int = 256) -> FileTail:
    counter = itertools.count(1)
    return FileTail(
        path,
        read_chunk=read_chunk,
        max_line_bytes=max_line_bytes,
        new_epoch=lambda: f"ep_{next(counter)}",
    )


def _drain(tail: FileTail, *, final: bool = False) -> list[Chunk]:
    inc = tail.chain[0]
    chunks = []
    while (chunk := (tail.read_final(inc) if final else tail.read(inc))) is not None:
        chunks.append(chunk)
    return chunks


def test_reads_whole_lines_and_leaves_a_partial_one(tmp_path: Path) -> None:
    """Chunks end at a newline; a last line without one waits (or is final on request)."""
    path = tmp_path / "app.log"
    path.write_bytes(b"one\ntwo\nthr")
    tail = _tail(path)
    tail.restore(None, at_end=False, known=None)
    assert [c.data for c in _drain(tail)] == [b"one\ntwo\n"]
    assert tail.chain[0].pos == 8
    final = _drain(tail, final=True)
    assert [(c.data, c.kind, c.start, c.end) for c in final] == [(b"thr", "partial", 8, 11)]


def test_an_over_long_line_is_cut_once_and_skipped(tmp_path: Path) -> None:
    """A line longer than read_chunk gives one cut chunk, then its rest is skipped."""
    path = tmp_path / "app.log"
    path.write_bytes(b"x" * 3000 + b"\nafter\n")
    tail = _tail(path, read_chunk=1024, max_line_bytes=100)
    tail.restore(None, at_end=False, known=None)
    chunks = _drain(tail)
    assert chunks[0].kind == "cut"
    assert chunks[0].data == b"x" * 100
    assert all(c.data == b"" for c in chunks[1:-1])
    assert chunks[-1].data == b"after\n"
    assert chunks[-1].end == 3007


def test_start_at_end_starts_after_the_last_whole_line(tmp_path: Path) -> None:
    """``at_end`` skips existing lines but not a line still being written."""
    path = tmp_path / "app.log"
    path.write_bytes(b"old\nold too\nnew but partial")
    tail = _tail(path)
    tail.restore(None, at_end=True, known=None)
    assert tail.chain[0].pos == 12
    with path.open("ab") as f:
        f.write(b" line\n")
    assert [c.data for c in _drain(tail)] == [b"new but partial line\n"]


def test_file_key_round_trips_through_the_row(tmp_path: Path) -> None:
    """The saved ``file_key`` parses back into inode, epoch and head; foreign keys do not."""
    path = tmp_path / "app.log"
    path.write_bytes(b"hello\n")
    tail = _tail(path)
    tail.restore(None, at_end=False, known=None)
    _drain(tail)
    inc = tail.chain[0]
    row = SavedRow.parse(inc.file_key(), inc.pos)
    assert row == SavedRow(inc.dev, inc.ino, "ep_1", 6, inc.head)
    assert SavedRow.parse("garbage", 0) is None
    assert SavedRow.parse("1:2", 0) is None


def test_resume_refuses_a_reused_inode_with_other_content(tmp_path: Path) -> None:
    """Same inode, other first bytes (truncated and rewritten): not resumed at the offset."""
    path = tmp_path / "app.log"
    path.write_bytes(b"first content line\n" * 3)
    tail = _tail(path)
    tail.restore(None, at_end=False, known=None)
    _drain(tail)
    row = SavedRow.parse(tail.chain[0].file_key(), tail.chain[0].pos)
    assert row is not None
    tail.close()
    with path.open("r+b") as f:
        f.truncate(0)
        f.write(b"other content, longer than the old one.....\n" * 3)
    again = _tail(path)
    restored = again.restore(row, at_end=False, known=None)
    assert restored.kind == "truncated_while_stopped"
    assert restored.lost  # no copy next to it
    assert again.chain[0].pos == 0


def test_find_copy_picks_the_copy_with_our_bytes(tmp_path: Path) -> None:
    """Among siblings, the copy is the one with our head and our bytes before the offset."""
    path = tmp_path / "app.log"
    path.write_bytes(b"".join(b"line %03d\n" % i for i in range(50)))
    tail = _tail(path)
    tail.restore(None, at_end=False, known=None)
    _drain(tail)
    inc = tail.chain[0]
    with path.open("ab") as f:
        f.write(b"line 050 written after our read\n")
    shutil.copyfile(path, tmp_path / "app.log.1")
    (tmp_path / "app.log.2").write_bytes(path.read_bytes()[:100] + b"different tail\n" * 40)
    (tmp_path / "app.log.1.gz").write_bytes(path.read_bytes())
    os.truncate(path, 0)
    change = tail.truncation(inc)
    assert change is not None
    assert change.copy is not None
    assert change.copy.pos == change.old.pos == 450
    assert change.copy.key == change.old.key
    assert tail.read_final(change.copy) == Chunk(450, b"line 050 written after our read\n", 482)
    assert inc.key != change.old.key
    assert inc.pos == 0


def test_watch_opens_a_replacement_at_once(tmp_path: Path) -> None:
    """After a rename, the watcher holds the new file even if it is renamed away again."""
    path = tmp_path / "app.log"
    path.write_bytes(b"a\n")
    tail = _tail(path)
    tail.restore(None, at_end=False, known=None)
    os.rename(path, tmp_path / "app.log.1")
    assert tail.watch() == "vanished"
    path.write_bytes(b"b\n")
    assert tail.watch() == "rotated"
    os.rename(path, tmp_path / "app.log.2")
    path.write_bytes(b"c\n")
    assert tail.watch() == "rotated"
    assert tail.watch() is None
    assert [tail.read(inc).data for inc in tail.chain] == [b"a\n", b"b\n", b"c\n"]  # type: ignore[union-attr]
    tail.close()
