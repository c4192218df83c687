"""TEMPORARY: the registry API of CONTRACT.md (RunView, started_by, stop(by=), is_live) over the old registry.

Deleted once main's "engine+store" commit is merged; pages call ``api(registry())`` until then.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from multilabel.engine import last_evaluated

_owners: dict[str, str] = {}
_notes: dict[str, list] = {}


class _Adapter:
    def __init__(self, reg: Any) -> None:
        self._reg = reg
        self.store = reg.store

    def start(self, config, data, name=None, started_by=None):
        session = self._reg.start(config, data, name=name)
        if started_by:
            _owners[session.run_id] = started_by
        return session

    def stop(self, run_id, by=None):
        session = self._reg.get(run_id)
        if session is not None:
            session.stop()
        if by and by != _owners.get(run_id):
            _notes.setdefault(run_id, []).append({"at": time.time(), "text": f"stopped by {by}"})

    def is_live(self, run_id):
        session = self._reg.get(run_id)
        return session is not None and session.running

    def view(self, run_id):
        d = dict(self._reg.view(run_id))
        d.setdefault("started_at", None)
        d.setdefault("finished_at", None)
        d["started_by"] = _owners.get(run_id)
        d["notes"] = list(_notes.get(run_id, []))
        d.setdefault("progress", None)
        d.setdefault("live", {})
        known = {"run_id", "status", "history", "epoch", "epochs", "config", "info", "best", "error", "checkpoint",
                 "alive", "stopping", "live", "progress", "started_at", "finished_at", "started_by", "notes"}
        view = SimpleNamespace(**{k: d.get(k) for k in known})
        view.last_evaluated = last_evaluated(view.history)
        return view


def api(reg: Any) -> Any:
    return reg if hasattr(reg, "is_live") else _Adapter(reg)
