"""benchmarks: the model benchmark harness, and the speed benchmarks of every stage.

The harness (what ``cwm predict`` and ``cwm bench`` run): :mod:`.predictors`
(one interface for models and baselines), :mod:`.metrics` (the CWM paper's
Table 9), :mod:`.compare` (a prediction beside the real run), :mod:`.suites`
(what ``--suite`` names), :mod:`.runner` (real runs, predictions, scores,
resume), :mod:`.results` (figures with bootstrap intervals), :mod:`.report`
and :mod:`.report_html` (what a person looks at).

:mod:`benchmarks.speed`, which the harness does not use, holds the speed
benchmarks: commands that measure and print figures, not timed tests
(``python -m benchmarks.speed.tracer``, ``.sandbox``, ``.dataset``, ``.train``,
``.rollout``, ``.bench``).
"""
