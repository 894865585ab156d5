"""Which sandbox backends can run here, for the sandbox tests."""

from __future__ import annotations

import os
import shutil
from functools import cache

import pytest

from sandbox import DEFAULT_IMAGE, Sandbox, SandboxUnavailable


@cache
def docker_problem() -> str | None:
    """Why the docker backend cannot run here, or None when it can."""
    try:
        from sandbox.image import docker_client, image_exists

        client = docker_client()
        if not image_exists(client, DEFAULT_IMAGE):
            return f"the image {DEFAULT_IMAGE} is not built (bash scripts/setup-sandbox.sh)"
    except Exception as exc:
        return f"no Docker daemon: {exc}"
    return None


def bwrap_problem() -> str | None:
    return None if shutil.which("bwrap") else "bubblewrap is not installed"


BACKEND_PARAMS = [
    pytest.param("docker", marks=[pytest.mark.docker, pytest.mark.slow], id="docker"),
    pytest.param("process", marks=[pytest.mark.slow], id="process"),
]


def open_sandbox(backend: str, workers: int = 1) -> Sandbox:
    problem = docker_problem() if backend == "docker" else bwrap_problem()
    if problem:
        if os.environ.get("CI"):  # CI sets the sandboxes up: a skip there would hide a broken set-up
            pytest.fail(f"the {backend} sandbox must run in CI: {problem}")
        pytest.skip(problem)
    try:
        return Sandbox(backend, workers=workers)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
