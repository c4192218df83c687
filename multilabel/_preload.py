"""The worker forkserver's preload: everything a run imports, imported once so that a worker starts in a fork.

Besides ``multilabel.worker`` (torch, the engine, the store), the modules torch imports lazily on a run's first
optimizer step (torch._dynamo: about 800 modules, 1.5-4 s on a 2-core machine). Importing starts no torch thread,
so forking the forkserver afterwards is safe. Never imported by the CLI, which would pay for nothing.
"""

import importlib

from . import worker  # noqa: F401

for _module in ("torch._dynamo",):
    try:
        importlib.import_module(_module)
    except ImportError:  # pragma: no cover - an optional speed-up: the first step imports what it needs
        pass
