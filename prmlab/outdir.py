"""Where prmlab may write: output folders it owns, files it wrote, never anything else.

Every folder prmlab writes into keeps a manifest, `.prmlab-manifest.json`, listing the files
(relative paths) prmlab wrote there. That is how a command tells its own earlier output (which
it may replace: a rerun, a resumed run) from a user's files (which it never replaces):

- `prepare_out(folder)` (a command's `--out` folder), before any work: a missing or empty folder
  is fine (created at the first write, so a command that fails early leaves nothing); a folder
  with a manifest is prmlab's; a non-empty folder without one is refused unless `overwrite`,
  and even then only files prmlab listed are ever replaced (or, with `overwrite`, removed:
  stale outputs of an earlier run). A symbolic link, a file or a device is refused, and so is a
  folder that is, contains, or lies inside one of the command's inputs.
- `prepare_out_file(file)` (a single output file): refused when it is a link, a folder or a
  device, when it is one of the inputs, or when it exists and prmlab did not write it (unless
  `overwrite`). Its folder's manifest records it.
- Writes through `prmlab.atomic` call `check_target` before and `record_written` after: a link,
  folder or device is never replaced, a file in a prmlab folder that prmlab did not write is
  never replaced, and each written file is added to the manifest of the folder it belongs to.
- `install_folder` moves a folder written elsewhere (a checkpoint) into place under the same
  rules, replacing only prmlab's own files.
- One process at a time per folder: `prepare_out` takes an exclusive lock for the folder (a
  lock file in the system's temporary folder, keyed by the folder's canonical path, so nothing
  is added to the folder) and holds it until the command ends; a second command on the same
  folder, or on a folder inside it, is refused naming the process that holds it. The operating
  system drops the lock when that process dies, so a killed run never leaves a stale lock.

Everything here raises `InputError` (one line, exit status 2) for what a user can fix.

Longer than most modules on purpose: these are the rules of every write prmlab makes (the
manifest, what a target may be, inputs, checkpoint installs, interrupts); split, a command could
follow one rule and miss its neighbour.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from prmlab.errors import InputError

MANIFEST = ".prmlab-manifest.json"
LOCK = ".prmlab-manifest.lock"  # exists only while a process updates the manifest beside it
_ABOUT = ("files prmlab wrote in this folder (paths relative to it); prmlab replaces or, with "
          "--overwrite, removes only these, never anything else here")


@dataclasses.dataclass
class _Root:
    path: Path  # canonical (absolute, parent resolved)
    shown: str  # as the user gave it
    purge: bool  # --overwrite given: remove the listed files before the first write


_roots: dict[Path, _Root] = {}
_replaceable: set[Path] = set()  # single files the user allowed to replace (--overwrite)
_state: dict = {"stage": None, "out": None, "file": None, "written": set()}
_inputs: dict[str, set] = {"paths": set(), "ids": set()}
_command = {"active": False}
_held: dict[Path, int] = {}  # folder -> the open lock file this process holds for it


def reset() -> None:
    """Forget the folders prepared by the previous command (the CLI calls it per command)."""
    _release_locks()
    _roots.clear()
    _replaceable.clear()
    _state.update(stage=None, out=None, file=None, written=set())
    _inputs["paths"].clear()
    _inputs["ids"].clear()


@contextlib.contextmanager
def command():
    """One CLI command: every file it reads is an input it will refuse to write onto."""
    reset()
    _command["active"] = True
    try:
        yield
    finally:
        _command["active"] = False
        _inputs["paths"].clear()
        _inputs["ids"].clear()
        _release_locks()


def _lock_file(p: Path) -> Path:
    user = os.getuid() if hasattr(os, "getuid") else 0  # one lock folder per user
    key = hashlib.sha256(os.fsencode(p)).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"prmlab-{user}" / f"{key}.lock"


def _try_lock(p: Path, exclusive: bool) -> tuple[int | None, str]:
    """An open lock file for folder `p`, locked exclusively (the holder) or shared (a check that
    no one holds it; checks do not exclude each other); (None, the holder's pid) when another
    process holds it; (-1, "") where no lock can be taken here (no fcntl, an unwritable
    temporary folder): the lock guards against a mistake, it is not needed to write."""
    try:
        import fcntl
    except ImportError:
        return -1, ""
    f = _lock_file(p)
    try:
        f.parent.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(f, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return -1, ""
    for _ in range(5):  # another command's shared check lasts microseconds: retry it
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            break
        except OSError:
            time.sleep(0.05)
    else:
        try:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        except OSError:
            holder = ""
        os.close(fd)
        return None, holder
    if exclusive:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd, ""


def _hold(p: Path, shown: str, option: str) -> None:
    """Take this folder's lock for the rest of the command; refuse when another process holds
    it or a folder above it (a `prmlab run` into a claims suite's run folder while the suite runs)."""
    for q in [p, *p.parents]:
        if q in _held:
            continue
        fd, holder = _try_lock(q, exclusive=q == p)
        if fd is None:
            who = f"process {holder}" if holder else "another process"
            where = "this folder" if q == p else f"the folder it lies in ({q})"
            raise InputError(f"{option}: prmlab {who} is writing into {where}; wait for it to "
                             "finish or stop it (it resumes), or give another folder", path=shown)
        if q == p and fd >= 0:
            _held[p] = fd
        elif fd >= 0:
            os.close(fd)  # an ancestor is only checked, not held: siblings may run side by side


def _release_locks() -> None:
    for fd in _held.values():
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the last descriptor drops the flock
    _held.clear()


def note_input(path: str | os.PathLike) -> None:
    """Called by the readers: within a command, `path` may not be written afterwards."""
    if not _command["active"]:
        return
    with contextlib.suppress(OSError, ValueError):
        _inputs["paths"].add(os.path.realpath(path))
        st = os.stat(path)
        _inputs["ids"].add((st.st_dev, st.st_ino))


def _is_input(p: Path) -> bool:
    if not _command["active"] or not _inputs["paths"]:
        return False
    if os.path.realpath(p) in _inputs["paths"]:
        return True
    try:
        st = os.stat(p)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) in _inputs["ids"]


def canonical(path: str | os.PathLike) -> Path:
    """An absolute path with its parent's links resolved (the last part is kept as it is, so a
    link there is seen as a link)."""
    p = Path(os.path.abspath(os.fspath(path)))
    if p.name in ("", ".", ".."):
        return p.resolve()
    try:
        return p.parent.resolve() / p.name
    except (OSError, RuntimeError):
        return p


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _lstat(p: Path) -> os.stat_result | None:
    try:
        return os.lstat(p)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise InputError("a parent of this path is a file, not a folder", path=str(p)) from None


def _kind(st: os.stat_result) -> str:
    m = st.st_mode
    if stat.S_ISLNK(m):
        return "link"
    if stat.S_ISDIR(m):
        return "dir"
    if stat.S_ISREG(m):
        return "file"
    return "special"


# ---- the manifest ------------------------------------------------------------------------------

def _safe_rel(rel: str) -> bool:
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
        return False
    parts = rel.split("/")
    return all(p not in ("", ".", "..") for p in parts)


def read_manifest(folder: str | os.PathLike) -> set[str] | None:
    """The files prmlab listed in `folder`, or None when it has no manifest."""
    f = Path(folder) / MANIFEST
    st = _lstat(f)
    if st is None:
        return None
    if _kind(st) != "file":
        raise InputError("prmlab manifest is not a regular file", path=str(f))
    from prmlab.strict import decode, loads, read_bytes

    obj = loads(decode(read_bytes(f, note=False), f), path=f)
    files = obj.get("files") if isinstance(obj, dict) else None
    if not isinstance(files, list) or not all(isinstance(x, str) and _safe_rel(x) for x in files):
        raise InputError("damaged prmlab manifest: expected {\"files\": [relative paths]}; "
                         "remove it only if nothing in this folder is prmlab's", path=str(f))
    return set(files)


def _write_manifest(folder: Path, files: Iterable[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"about": _ABOUT, "files": sorted(set(files))}, indent=1) + "\n"
    target = folder / MANIFEST
    st = _lstat(target)
    if st is not None and _kind(st) != "file":
        raise InputError("prmlab manifest is not a regular file", path=str(target))
    fd, tmp = tempfile.mkstemp(prefix=f"{MANIFEST}.", suffix=".tmp", dir=folder)
    ident = identity(tmp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        remove_own(tmp, ident)
        raise


LOCK_MARK = b"prmlab manifest lock\n"  # every lock file prmlab places holds exactly this


def _is_lock_file(st: os.stat_result, content: bytes) -> bool:
    """A lock file prmlab placed: a regular file holding only `LOCK_MARK`. prmlab links a lock
    into place already written (`_place_lock`), so a file of the lock's name with other content,
    an empty one included, is somebody else's and is never removed."""
    return stat.S_ISREG(st.st_mode) and content == LOCK_MARK


def _place_lock(lock: Path) -> None:
    """Put a marked lock file at `lock` unless one is there: written under a private name, then
    linked into place, so no process ever sees a lock file without its mark."""
    tmp = lock.with_name(f"{lock.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        ident = identity(tmp)
        os.write(fd, LOCK_MARK)
    finally:
        os.close(fd)
    try:
        os.link(tmp, lock)
    except FileExistsError:
        pass  # another process placed one first: lock that one
    finally:
        remove_own(tmp, ident)  # the private name only; the lock's name keeps the file


def _refuse_lock(lock: Path):
    raise InputError(f"{LOCK} is prmlab's manifest lock name, and this file is not one prmlab "
                     "created; move it away", path=str(lock))


def _check_lock_name(folder: Path) -> None:
    """Refuse, before anything is written into `folder`, a file of the lock's name that prmlab
    did not create (see `_is_lock_file`)."""
    lock = folder / LOCK
    st = _lstat(lock)
    if st is None:
        return
    try:
        content = lock.read_bytes() if stat.S_ISREG(st.st_mode) else b""
    except FileNotFoundError:  # its holder has just removed it: prmlab's
        return
    if not _is_lock_file(st, content):
        _refuse_lock(lock)


@contextlib.contextmanager
def _manifest_lock(folder: Path):
    """Hold `folder`'s manifest for one read-modify-write. Cells of one sweep may run in several
    processes at once (Ray tasks) that list files in the same manifest; unlocked, one's entry
    could be lost. The lock file is removed before the lock is released, so it leaves no trace;
    a waiter that wakes on a removed lock file takes the new one. POSIX record locks (`lockf`),
    which NFS also honours."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: one writer at a time is the caller's affair
        yield
        return
    lock = folder / LOCK
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            _place_lock(lock)
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            now = _lstat(lock)
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # the holder before us removed this file: lock the new one
    if not _is_lock_file(held, os.pread(fd, len(LOCK_MARK) + 1, 0)):
        os.close(fd)
        _refuse_lock(lock)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # the marked lock file this process holds, if still there
            remove_own(lock, (held.st_dev, held.st_ino))
        os.close(fd)


def _walk_files(folder: Path) -> list[str]:
    """Relative paths of every non-folder entry under `folder` (links not followed)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            r = name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")
            if r not in (MANIFEST, LOCK):
                out.append(r)
    return out


# ---- who owns a path ---------------------------------------------------------------------------

def _owner(p: Path) -> Path | None:
    """The prmlab folder a file `p` belongs to: the nearest prepared root above it, else its own
    folder when that has a manifest."""
    best = None
    for r in _roots:
        if r != p and _inside(p, r) and (best is None or len(r.parts) > len(best.parts)):
            best = r
    if best is not None:
        return best
    if (p.parent / MANIFEST).exists():
        return p.parent
    return None


def _rel(p: Path, root: Path) -> str:
    return p.relative_to(root).as_posix()


def _remove_listed(root: Path, rels: Iterable[str]) -> None:
    """Delete the regular files `rels` (relative to `root`, as a manifest lists them) and the
    folders under `root` they leave empty; nothing else, and never through a link."""
    real_root = root.resolve()
    parents: set[Path] = set()
    for rel in sorted(rels):
        f = root / rel
        try:
            if not _inside(f.parent.resolve(), real_root):
                continue  # a link inside the folder points elsewhere: never follow it
        except OSError:
            continue
        st = _lstat(f)
        if st is not None and _kind(st) == "file":
            f.unlink()
        parents.update(a for a in f.parents if a != root and _inside(a, root))
    for d in sorted(parents, key=lambda a: -len(a.parts)):
        with contextlib.suppress(OSError):
            d.rmdir()  # only when empty


def identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of `path` now: taken right after creating a temporary, it lets
    `remove_own` tell that temporary from whatever might later stand at its name."""
    st = _lstat(Path(path))
    return None if st is None else (st.st_dev, st.st_ino)


def remove_own(path: str | os.PathLike, ident: tuple[int, int] | None) -> None:
    """Remove the temporary file, or the fresh private folder (`tempfile.mkdtemp`, so everything
    in it is this process's), that this process created at `path` — only while `path` is still
    that object (`ident`); a link, or anything else now there, is left alone."""
    p = Path(path)
    st = _lstat(p)
    if ident is None or st is None or (st.st_dev, st.st_ino) != ident:
        return
    if _kind(st) == "dir":
        shutil.rmtree(p, ignore_errors=True)
    elif _kind(st) == "file":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)


def _purge_if_pending(root: Path) -> None:
    r = _roots.get(root)
    if r is None or not r.purge:
        return
    r.purge = False
    _remove_listed(root, read_manifest(root) or set())
    if root.is_dir():
        _write_manifest(root, [])


# ---- before a command starts ---------------------------------------------------------------------

def _check_inputs(p: Path, inputs: Iterable, option: str, *, folder: bool,
                  input_folders: Iterable = (), shown: str | None = None) -> None:
    shown = os.fspath(p) if shown is None else shown
    try:
        real = p.resolve()
    except (OSError, RuntimeError):
        real = p
    folders = [x for x in input_folders if x is not None]
    for inp in [*inputs, *folders]:
        if inp is None or (isinstance(inp, str) and inp.startswith("baseline:")):
            continue
        ip = Path(os.path.abspath(os.fspath(inp)))
        if not os.path.lexists(ip):
            continue  # the reader says "no such file"
        try:
            ireal = ip.resolve()
        except (OSError, RuntimeError):
            ireal = ip
        same = real == ireal
        if not same and os.path.exists(p):
            with contextlib.suppress(OSError):
                same = os.path.samefile(p, ip)
        if same:
            raise InputError(f"{option} is the command's own input {inp}; prmlab never writes "
                             "onto its input", path=shown)
        if folder and ireal != real and _inside(ireal, real):
            raise InputError(f"{option} contains the command's input {inp}; give a folder "
                             "apart from the inputs", path=shown)
        if inp in folders and ireal.is_dir() and _inside(real, ireal):
            raise InputError(f"{option} is inside the input folder {inp}; prmlab never writes "
                             "into its inputs", path=shown)


def _check_ancestors(p: Path, option: str) -> None:
    a = p.parent
    while True:
        st = _lstat(a)
        if st is not None:
            if not stat.S_ISDIR(os.stat(a).st_mode):
                raise InputError(f"cannot create {option} {p}: {a} is a file, not a folder",
                                 path=str(p))
            return
        if a.parent == a:
            return
        a = a.parent


def _register(p: Path, shown: str, purge: bool) -> None:
    old = _roots.get(p)
    _roots[p] = _Root(p, shown, purge or bool(old and old.purge))


def prepare_out(path: str | os.PathLike, *, inputs: Iterable = (), overwrite: bool = False,
                will_write: Iterable[str] = (), option: str = "--out",
                adopt: Callable[[Path], bool] | None = None,
                input_folders: Iterable = (), worker: bool = False) -> Path:
    """Check that a command may write into the folder `path`; remember it as a prmlab folder.

    Nothing is created here: the folder and its manifest appear with the first file written
    (through `prmlab.atomic` or `install_folder`). `inputs` are the command's input paths
    (None and `baseline:` specs are skipped): `path` may not be one of them or contain one;
    `input_folders` (checkpoints) are inputs it may not lie inside either. `will_write` names files the
    command writes directly in the folder, checked now so that a clash fails before any work.
    `adopt(folder)` may recognise a prmlab folder written before manifests existed (e.g. a run
    folder with prmlab's config.json): its present files are then listed as prmlab's.
    `overwrite` removes the files prmlab listed there, just before the first new one is written.
    `worker`: a process writing for a command that holds the folder's lock (a Ray task of `prmlab
    run --executor ray`), so it takes none. Returns `path` unchanged, for chaining.
    """
    p = canonical(path)
    shown = os.fspath(path)
    _check_inputs(p, inputs, option, folder=True, input_folders=input_folders, shown=shown)
    st = _lstat(p)
    if st is None:
        _check_ancestors(p, option)
        if not worker:
            _hold(p, shown, option)
        _register(p, shown, False)
        _state["out"] = _state["out"] or shown
        return Path(path)
    kind = _kind(st)
    if kind == "link":
        raise InputError(f"{option} is a symbolic link; give the folder itself", path=shown)
    if kind == "file":
        raise InputError(f"{option} is a file, expected a folder", path=shown)
    if kind == "special":
        raise InputError(f"{option} is a device or special file, expected a folder", path=shown)
    listed = read_manifest(p)
    if listed is None:
        entries = os.listdir(p)
        if not entries:
            listed = set()
        elif adopt is not None and adopt(p):
            listed = set(_walk_files(p))
            _write_manifest(p, listed)
        elif overwrite:
            listed = set()
        else:
            raise InputError(f"{option} is not empty and was not written by prmlab (no "
                             f"{MANIFEST}); give a new or empty folder, or --overwrite to write "
                             "beside what is there (prmlab never replaces a file it did not "
                             "write)", path=shown)
    for name in will_write:
        f = p / name
        fst = _lstat(f)
        if fst is None:
            continue
        if _kind(fst) != "file":
            raise InputError(f"is a {'symbolic link' if _kind(fst) == 'link' else 'folder or special file'}"
                             "; prmlab writes only regular files", path=str(Path(shown) / name))
        if name not in listed:
            raise InputError("exists and was not written by prmlab; not replacing it",
                             path=str(Path(shown) / name))
    if not worker:
        _hold(p, shown, option)
    _register(p, shown, overwrite)
    _state["out"] = _state["out"] or shown
    return Path(path)


def prepare_out_file(path: str | os.PathLike, *, inputs: Iterable = (), overwrite: bool = False,
                     option: str = "--out", input_folders: Iterable = ()) -> Path:
    """Check that a command may write the single file `path` (see the module docstring)."""
    p = canonical(path)
    shown = os.fspath(path)
    _check_inputs(p, inputs, option, folder=False, input_folders=input_folders, shown=shown)
    st = _lstat(p)
    if st is None:
        _check_ancestors(p, option)
    else:
        kind = _kind(st)
        if kind == "link":
            raise InputError(f"{option} is a symbolic link; prmlab writes only regular files, "
                             "never through a link", path=shown)
        if kind == "dir":
            raise InputError(f"{option} is a folder, expected a file", path=shown)
        if kind == "special":
            raise InputError(f"{option} is a device or special file; prmlab writes only regular "
                             "files", path=shown)
        owner = _owner(p)
        listed = (read_manifest(owner) or set()) if owner is not None else set()
        if owner is None or _rel(p, owner) not in listed:
            if not overwrite:
                raise InputError(f"{option} exists and was not written by prmlab; give "
                                 "--overwrite to replace it", path=shown)
            _replaceable.add(p)
    if not any(r != p and _inside(p, r) for r in _roots):
        _register(p.parent, str(Path(shown).parent), False)  # its manifest will list the file
    _state["file"] = _state["file"] or shown
    return Path(path)


# ---- around every write ------------------------------------------------------------------------

def check_target(path: str | os.PathLike) -> None:
    """Before replacing `path`: it must be a regular file (or absent), and, in a prmlab folder,
    one prmlab wrote. Removes an --overwrite folder's old files before its first new one."""
    p = canonical(path)
    st = _lstat(p)
    owner = _owner(p)
    if owner is not None:
        _check_lock_name(owner)
        _purge_if_pending(owner)
        st = _lstat(p)
    if st is None:
        return
    kind = _kind(st)
    if kind == "link":
        raise InputError("is a symbolic link; prmlab writes only regular files, never through "
                         "a link", path=str(path))
    if _is_input(p):
        raise InputError("is an input of this command; prmlab never writes onto its input",
                         path=str(path))
    if kind == "dir":
        raise InputError("is a folder, expected a file", path=str(path))
    if kind == "special":
        raise InputError("is a device or special file; prmlab writes only regular files",
                         path=str(path))
    if owner is not None and p not in _replaceable:
        listed = read_manifest(owner) or set()
        if _rel(p, owner) not in listed:
            raise InputError("exists and was not written by prmlab; not replacing it",
                             path=str(path))


def record_written(path: str | os.PathLike) -> None:
    """After writing `path`: list it in the manifest of the prmlab folder it belongs to."""
    p = canonical(path)
    _state["written"].add(os.fspath(path))
    owner = _owner(p)
    if owner is None:
        return
    rel = _rel(p, owner)
    if rel in (read_manifest(owner) or set()):
        return
    with _manifest_lock(owner):
        listed = read_manifest(owner) or set()
        if rel not in listed:
            _write_manifest(owner, listed | {rel})


def install_folder(tmp: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Move the complete folder `tmp` (written beside `out`) to `out`, replacing only files
    prmlab wrote there; `out` gets its own manifest (and the prepared folder above it, if any,
    lists the files too). `tmp` is gone afterwards on success."""
    tmp, shown = Path(tmp), Path(out)
    p = canonical(out)
    new_files = set(_walk_files(tmp))
    root = _owner(p) if p not in _roots else p
    if root is not None and root != p:
        _purge_if_pending(root)
    elif p in _roots:
        _purge_if_pending(p)
    st = _lstat(p)
    if st is None:
        _write_manifest(tmp, new_files)
        os.rename(tmp, p)
    else:
        kind = _kind(st)
        if kind != "dir":
            what = {"link": "a symbolic link", "file": "a file"}.get(kind, "a device or special file")
            raise InputError(f"is {what}, expected a folder", path=str(shown))
        listed = _listed_under(p)
        present = set(_walk_files(p))
        foreign = present - listed
        if foreign and not (p in _roots or listed or _legacy_checkpoint(p)):
            raise InputError("is not empty and was not written by prmlab; not writing into it "
                             "(give a new or empty folder)", path=str(shown))
        if foreign and _legacy_checkpoint(p) and not listed:
            listed, foreign = present, set()
        clash = sorted(new_files & foreign)
        if clash:
            raise InputError("exists and was not written by prmlab; not replacing it",
                             path=str(shown / clash[0]))
        if not foreign:  # wholly prmlab's: swap the folders, then drop the old one's files
            old = Path(tempfile.mkdtemp(prefix=f".{p.name}.old.", dir=p.parent))
            os.rename(p, old / p.name)
            _write_manifest(tmp, new_files)
            os.rename(tmp, p)
            _remove_listed(old, {f"{p.name}/{rel}" for rel in listed | {MANIFEST}})
            with contextlib.suppress(OSError):
                old.rmdir()  # anything prmlab did not list stays, in plain sight of its name
        else:  # user files beside: replace prmlab's files one by one
            _remove_listed(p, listed - new_files)
            for rel in sorted(new_files):
                (p / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / rel, p / rel)
            # `tmp` now holds only empty folders: the caller that made it removes it
            _write_manifest(p, new_files)
    if root is not None and root != p:
        prefix = _rel(p, root)
        with _manifest_lock(root):
            mine = read_manifest(root) or set()
            _write_manifest(root, mine | {f"{prefix}/{f}" for f in new_files | {MANIFEST}})
    return shown


def _listed_under(p: Path) -> set[str]:
    """Files under folder `p` that prmlab listed: in p's own manifest or its root's."""
    own = read_manifest(p) or set()
    root = _owner(p)
    if root is not None and root != p:
        prefix = _rel(p, root) + "/"
        own |= {f[len(prefix):] for f in (read_manifest(root) or set()) if f.startswith(prefix)}
        own.discard(MANIFEST)
    return own


def _legacy_checkpoint(p: Path) -> bool:
    """A checkpoint folder written by prmlab before manifests: prmlab.json with provenance."""
    f = p / "prmlab.json"
    if (p / MANIFEST).exists() or not f.is_file() or f.is_symlink():
        return False
    try:
        info = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(info, dict) and isinstance(info.get("provenance"), dict)


def is_run_folder(folder: str | os.PathLike) -> bool:
    """A run folder `prmlab run` wrote before manifests existed: its config.json holds the
    resolved config and prmlab's provenance (for `prepare_out(..., adopt=is_run_folder)`)."""
    f = Path(folder) / "config.json"
    if f.is_symlink() or not f.is_file():
        return False
    try:
        from prmlab.strict import read_json

        obj = read_json(f)
    except InputError:
        return False
    return (isinstance(obj, dict) and isinstance(obj.get("config"), dict)
            and isinstance(obj.get("versions"), dict) and "git_revision" in obj)


def check_writable(folder: str | os.PathLike, option: str = "--cache") -> None:
    """Fail now, not after an hour of work, when `folder` cannot be created or written."""
    p = Path(folder)
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".prmlab-write-test.", dir=p)
        os.close(fd)
        remove_own(tmp, identity(tmp))
    except FileExistsError:
        raise InputError(f"{option} is a file, expected a folder", path=str(p)) from None
    except OSError as e:
        raise InputError(f"{option} is not writable: {e.strerror or e}", path=str(p)) from None


# ---- what an interrupted command says --------------------------------------------------------------

def set_stage(text: str | None) -> None:
    """What the command is doing now; Ctrl-C names it ("interrupted during ...")."""
    _state["stage"] = text


def interrupt_line() -> str:
    """One line for Ctrl-C: where it stopped, that finished work is kept, how to resume."""
    where = f" during {_state['stage']}" if _state["stage"] else ""
    out, file = _state["out"], _state["file"]
    if file and not out:
        done = os.path.exists(file) and file in _state["written"]
        return (f"interrupted{where}; {file} was {'written' if done else 'not written'} (nothing "
                "is left half-written): run the same command again to redo it")
    kept = f"finished work in {out} is kept" if out else "finished work is kept"
    return (f"interrupted{where}; {kept} (nothing is left half-written): run the same command "
            "again to resume")
