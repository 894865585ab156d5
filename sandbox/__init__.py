"""cwm's sandbox: run untrusted programs in isolation and get their traces.

    >>> from sandbox import Job, Sandbox                         # doctest: +SKIP
    >>> with Sandbox("auto", workers=2) as box:
    ...     trace = box.run(Job("def f(x):\\n    return x * 2\\n", "f(21)"))
    ...     results = dict(box.map(jobs, progress=True))          # job id -> trace

Backends: ``docker`` (warm containers, docker-py; the default when a daemon
answers), ``process`` (bubblewrap), ``none`` (rlimits only, explicit). Each
runs the same fork server (``forkserver.py``, standard library only), which
forks one fresh process per job.
"""

from .errors import SandboxError, SandboxUnavailable
from .image import DEFAULT_IMAGE
from .job import Job, Limits
from .pool import BACKENDS, Sandbox, map, open_backend, run  # noqa: A004

__all__ = [
    "BACKENDS",
    "DEFAULT_IMAGE",
    "Job",
    "Limits",
    "Sandbox",
    "SandboxError",
    "SandboxUnavailable",
    "map",
    "open_backend",
    "run",
]
