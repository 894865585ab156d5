"""Shared pytest set-up."""

from __future__ import annotations

import os

from hypothesis import settings

pytest_plugins = ["tests.browser_support"]  # the browser_page fixture of the HTML pages' tests

# CI runs the property tests on a fixed set of examples, so a green run stays
# green; locally they explore new examples each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
