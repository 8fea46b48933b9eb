"""prmlab deletes only what it created: a temporary is removed only while it is still the object
this process made, and replacing a checkpoint removes only the files prmlab listed."""

from __future__ import annotations

import os

from prmlab import outdir


def test_remove_own_removes_its_own_temporary(tmp_path):
    f = tmp_path / "t.tmp"
    f.write_text("x")
    ident = outdir.identity(f)
    d = tmp_path / "fresh"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "w.bin").write_bytes(b"1")
    dident = outdir.identity(d)
    outdir.remove_own(f, ident)
    outdir.remove_own(d, dident)
    assert not f.exists() and not d.exists()


def test_remove_own_leaves_whatever_took_its_name(tmp_path):
    f = tmp_path / "t.tmp"
    f.write_text("mine")
    ident = outdir.identity(f)
    f.rename(tmp_path / "aside")  # (kept, so the new file cannot reuse its inode)
    f.write_text("someone else's")  # a new file at the same name: another object
    other = tmp_path / "keep"
    other.write_text("k")
    outdir.remove_own(f, ident)
    assert f.read_text() == "someone else's"
    link = tmp_path / "l.tmp"
    link.symlink_to(other)
    outdir.remove_own(link, outdir.identity(other))  # the link is not the file it points to
    assert link.is_symlink() and other.read_text() == "k"
    outdir.remove_own(tmp_path / "gone", ident)  # nothing there: nothing to do
    outdir.remove_own(other, None)
    assert other.exists()


def test_remove_listed_deletes_only_listed_regular_files(tmp_path):
    root = tmp_path / "r"
    (root / "a").mkdir(parents=True)
    (root / "a" / "listed.txt").write_text("p")
    (root / "a" / "user.txt").write_text("u")
    (root / "b").mkdir()
    (root / "b" / "listed.txt").write_text("p")
    outside = tmp_path / "outside.txt"
    outside.write_text("o")
    (root / "c").symlink_to(tmp_path, target_is_directory=True)
    outdir._remove_listed(root, {"a/listed.txt", "b/listed.txt", "c/outside.txt"})
    assert sorted(os.listdir(root)) == ["a", "c"]  # b emptied and removed; a keeps the user's
    assert os.listdir(root / "a") == ["user.txt"] and outside.read_text() == "o"


def test_the_manifest_lock_removes_only_the_marked_file_it_placed(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    with outdir._manifest_lock(folder):
        assert (folder / outdir.LOCK).read_bytes() == outdir.LOCK_MARK
    assert os.listdir(folder) == []  # its own lock and private name are gone
    (folder / outdir.LOCK).write_bytes(b"")  # an empty file of the lock's name: not prmlab's
    try:
        with outdir._manifest_lock(folder):
            raise AssertionError("a foreign file was taken as the lock")
    except outdir.InputError as e:
        assert "manifest lock name" in str(e)
    assert (folder / outdir.LOCK).read_bytes() == b"" and os.listdir(folder) == [outdir.LOCK]
