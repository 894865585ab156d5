"""cwm's benchmarks: commands that measure and print figures, not timed tests.

- ``python -m benchmarks.tracer_speed``: the tracer's speed on every CRUXEval
  sample and on a loop-heavy program, against untraced execution, a naive
  ``sys.settrace`` tracer and PySnooper (see that module's docstring).
- ``python -m benchmarks.sandbox_speed``: jobs per second through the sandbox
  pool against one container per job, latency and memory per container.
- ``python -m benchmarks.dataset_speed``: programs per second of ``cwm dataset
  build`` against the sandbox alone, and the share of time spent outside it.
"""
