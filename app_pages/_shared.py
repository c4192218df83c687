"""Wiring shared by the pages: the process-wide session registry and cached model loading."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from multilabel import TrainedModel, load_checkpoint
from multilabel.session import SessionRegistry, get_registry
from multilabel.store import default_home


@st.cache_resource(show_spinner=False)
def _registry(home: str) -> SessionRegistry:
    return get_registry(home)


def registry() -> SessionRegistry:
    """The registry of live runs for this server's run store (one per home folder, shared by all tabs)."""
    return _registry(str(default_home().resolve()))


@st.cache_resource(show_spinner=False, max_entries=8)
def stored_model(path: str, mtime: float) -> TrainedModel:
    """A checkpoint from the run store, loaded once per file version (``mtime`` is part of the cache key)."""
    return load_checkpoint(path)


def model_from_store(path: str) -> TrainedModel:
    return stored_model(path, Path(path).stat().st_mtime)
