"""The worker forkserver's preload: everything a run imports, imported once so that a worker starts in a fork.

Besides ``multilabel.worker`` (torch, the engine, the store), the modules torch imports lazily on a run's first
optimizer step (torch._dynamo: about 800 modules, 1.5-4 s on a 2-core machine). Importing starts no torch thread,
so forking the forkserver afterwards is safe. Never imported by the CLI, which would pay for nothing.
"""

import importlib
import os

# OpenMP threads that sleep instead of spinning while they wait: read once, when torch loads its OpenMP runtime, so
# it is set before the import below. With spinning threads, a 2-thread run on 2 busy cores (other runs, the server,
# a browser, other users) fell to 0.25-1.8 epochs/s against 9-12 for 1 thread; sleeping threads ran at 9.1-9.6
# (measured side by side on the shared 2-core machine). A value already in the environment is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import worker  # noqa: E402,F401

for _module in ("torch._dynamo",):
    try:
        importlib.import_module(_module)
    except ImportError:  # pragma: no cover - an optional speed-up: the first step imports what it needs
        pass
