"""Output paths checked before work starts; OS errors (a full disk, a read-only folder) as one line to act on."""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Optional

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
