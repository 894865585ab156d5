"""Which CPU each worker's sandbox runs on: one sandbox a CPU, round the machine.

Every job forks the fork server, touches copy-on-write pages and unmaps them
when it ends. A process whose memory has been active on several CPUs makes each
of them flush its TLB (an inter-processor interrupt, dear under a hypervisor)
whenever a page is unmapped or write-protected; pinned to one CPU, a sandbox's
processes never need that. On this project's 2-core VM, pinning made the bare
fork server 1.4x as fast at 2 workers (``benchmarks/speed/sandbox.py``).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (and so, for a local daemon, its containers)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux: no pinning
        return []


class CpuPins:
    """Hands each new sandbox the CPU with the fewest sandboxes on it; ``None`` = not pinned."""

    def __init__(self, cpus: Iterable[int]) -> None:
        self.cpus = list(cpus)
        self._load: Counter[int] = Counter({cpu: 0 for cpu in self.cpus})
        self._lock = threading.Lock()

    def take(self) -> int | None:
        with self._lock:
            if not self.cpus:
                return None
            cpu = min(self.cpus, key=lambda c: (self._load[c], c))
            self._load[cpu] += 1
            return cpu

    def give(self, cpu: int | None) -> None:
        if cpu is None:
            return
        with self._lock:
            self._load[cpu] = max(0, self._load[cpu] - 1)

    def disable(self) -> None:
        """Stop pinning (the daemon refused a CPU set): later sandboxes run anywhere."""
        with self._lock:
            self.cpus = []
