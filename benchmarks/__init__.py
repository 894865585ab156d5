"""benchmarks: the model benchmark harness (coming), and the speed benchmarks of every stage.

The harness (suites, predictors, metrics, reports: a predicted trace against
the real one) will live here, beside :mod:`benchmarks.speed`, which it does
not use. The speed benchmarks are commands that measure and print figures,
not timed tests:

- ``python -m benchmarks.speed.tracer``: the tracer against untraced runs, a naive tracer and PySnooper;
- ``python -m benchmarks.speed.sandbox``: jobs per second through the sandbox pool against one container per job;
- ``python -m benchmarks.speed.dataset``: ``cwm dataset build`` against the sandbox alone.
"""
