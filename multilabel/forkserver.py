"""The worker processes' start method: a forkserver that preloads ``multilabel._preload`` (torch, the engine).

The forkserver is a fresh interpreter (started by exec, not a fork of this process), so this process's torch threads
never reach a worker; it imports torch and the engine once and runs no torch op before forking, so each worker
start costs a fork.
"""

from __future__ import annotations

import functools
import multiprocessing
import threading
from typing import Any, Optional

_context: Optional[Any] = None
_context_lock = threading.Lock()

WORKER_NAME = "multilabel-train-"  # every worker process's name starts so (see _without_main)


def _without_main(get_preparation_data: Any) -> Any:
    """multiprocessing's ``spawn.get_preparation_data``, except that a worker is not told to import ``__main__``.

    A worker started during a Streamlit script run would otherwise run the page script itself as ``__mp_main__``
    (Streamlit makes the page the ``__main__`` module while it runs): every st.* call printed "missing
    ScriptRunContext!" to the server's terminal, and the page's registry started a second forkserver in the worker.
    A worker needs nothing from ``__main__``: its target is ``worker.worker_main``.
    """

    @functools.wraps(get_preparation_data)
    def prepare(name: str) -> dict[str, Any]:
        data = get_preparation_data(name)
        if str(name).startswith(WORKER_NAME):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    prepare.__wrapped_for_workers__ = True  # type: ignore[attr-defined]
    return prepare


def worker_context() -> Any:
    """The multiprocessing context workers start from: a forkserver that preloads ``multilabel._preload``.

    The forkserver is a fresh interpreter (started by exec, not a fork of this process), so this process's torch
    threads never reach a worker; it imports torch and the engine once and runs no torch op before forking.
    """
    global _context
    with _context_lock:
        if _context is None:
            from multiprocessing import spawn

            if not getattr(spawn.get_preparation_data, "__wrapped_for_workers__", False):
                spawn.get_preparation_data = _without_main(spawn.get_preparation_data)
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["multilabel._preload"])
            from multiprocessing import forkserver

            forkserver.ensure_running()
            _context = ctx
        return _context
