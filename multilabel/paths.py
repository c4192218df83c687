"""Output paths checked before work starts; OS errors (a full disk, a read-only folder) as one line to act on."""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from .errors import MultilabelError

# errno -> what to do about it; any other OSError gets its own strerror and "check the path".
_ADVICE = {
    errno.ENOSPC: "free some disk space or choose a folder on another disk",
    errno.EDQUOT: "free some space (disk quota exceeded) or choose another folder",
    errno.EROFS: "the disk is mounted read-only; choose a writable folder",
    errno.EACCES: "choose a folder you may write to",
    errno.EPERM: "choose a folder you may write to",
}


def os_error_message(exc: BaseException, doing: str) -> str:
    """One line for an OSError (or SQLite's equivalents) met while ``doing`` something, e.g. "writing 'out.csv'".

    >>> os_error_message(OSError(errno.ENOSPC, "No space left on device"), "writing 'a.pt'")
    "cannot finish writing 'a.pt': No space left on device; free some disk space or choose a folder on another disk"
    """
    code = getattr(exc, "errno", None)
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        if "full" in text:
            code = errno.ENOSPC
        elif "readonly" in text or "read-only" in text:
            code = errno.EROFS if "readonly database" not in text else errno.EACCES
        reason = text
    else:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    advice = _ADVICE.get(code, "check the path and the disk")
    where = getattr(exc, "filename", None)
    where = f" ({os.fspath(where)})" if where and os.fspath(where) not in doing else ""
    return f"cannot finish {doing}: {reason}{where}; {advice}"


def check_output_file(path: str | os.PathLike, flag: str, example: str = "out.csv") -> Path:
    """Refuse, before any work, an output path that cannot be written: a folder, a missing folder, a folder that
    refuses a new file (permissions, read-only disk, a file where a folder should be). Returns the path.

    The test is real (a temporary file is created and removed beside the target), so it also binds root, who
    ignores permission bits but not a read-only or immutable folder.
    """
    path = Path(path)
    if path.is_dir():
        raise MultilabelError(f"{flag} {str(path)!r} is a folder; give a file name inside it, e.g. "
                              f"{str(path / example)!r}")
    folder = path.parent
    if not folder.exists():
        raise MultilabelError(f"{flag} {str(path)!r}: the folder {str(folder)!r} does not exist; create it first "
                              "or choose another path")
    if not folder.is_dir():
        raise MultilabelError(f"{flag} {str(path)!r}: {str(folder)!r} is a file, not a folder; choose another path")
    problem = _write_probe(folder)
    if problem is not None:
        raise MultilabelError(f"{flag} {str(path)!r}: cannot write in the folder {str(folder)!r} ({problem}); "
                              "choose a writable folder")
    return path


def _write_probe(folder: Path) -> Optional[str]:
    """None if a new file can be created in ``folder``, else the reason (strerror)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".multilabel-write-check-", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(name)
    return None


def check_writable_folder(folder: str | os.PathLike) -> Optional[str]:
    """None if ``folder`` exists and a file can be created in it, else why not (for messages)."""
    folder = Path(folder)
    if not folder.is_dir():
        return "it is not a folder" if folder.exists() else "it does not exist"
    return _write_probe(folder)


@contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = False, doing: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block ends it replaces ``path`` in one rename, so a
    reader sees the old file or the new one, never half of one. ``durable`` fsyncs the file and its folder first (data
    that must survive a power cut: checkpoints). On any failure the temporary file goes; an OSError becomes one line
    (``os_error_message``, ``doing`` defaults to "writing 'path'").

    The temporary name ends in ``.tmp`` plus the target's suffix, so writers that append a suffix (``np.savez``)
    keep it, and readers that glob for the target's exact name never see it.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        if durable:
            _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
        if durable:
            _fsync(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MultilabelError(os_error_message(exc, doing or f"writing {str(path)!r}")) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str, durable: bool = False, doing: str | None = None) -> Path:
    """Write ``data`` (str as UTF-8) to ``path`` through ``atomic_path``; returns the path."""
    with atomic_path(path, durable, doing) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def _fsync(path: Path, flags: int) -> None:
    try:
        fd = os.open(path, flags)
    except OSError:
        if path.is_dir():  # a folder cannot be opened for fsync on some systems (Windows): the rename still holds
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
