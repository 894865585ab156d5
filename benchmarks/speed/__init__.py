"""The speed benchmarks: commands that measure and print figures, not timed tests.

- ``python -m benchmarks.speed.tracer``: the tracer's speed on every CRUXEval
  sample and on a loop-heavy program, against untraced execution, a naive
  ``sys.settrace`` tracer and PySnooper (see that module's docstring).
- ``python -m benchmarks.speed.sandbox``: jobs per second through the sandbox
  pool against one container per job, latency and memory per container.
- ``python -m benchmarks.speed.dataset``: programs per second of ``cwm dataset
  build`` against the sandbox alone, and the share of time spent outside it.

What they share (the CRUXEval samples, read through ``training``'s source;
the options; tables, targets and ``--check``'s exit status) is
:mod:`benchmarks.speed.common`. Each exits 0, 1 when ``--check`` is given and
a target fails, or 2 when it cannot run.
"""
