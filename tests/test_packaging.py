"""The installed wheel, not only the editable checkout: it carries what it needs at run time."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .sandbox_support import docker_problem

REPO = Path(__file__).resolve().parents[1]
TEST_TAG = "cwm-sandbox:wheel-test"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (found,) = out.glob("cwm-*.whl")
    return found


@pytest.mark.slow
def test_the_wheel_holds_the_files_read_at_run_time(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "sandbox/Dockerfile",
        "sandbox/forkserver.py",
        "tracer/trace.schema.json",
        "training/data/__init__.py",
        "training/recipes/tiny-cpu.yaml",
        "training/recipes/qwen2.5-coder-1.5b-lora.yaml",
        "training/accelerate/fsdp.yaml",
        "training/accelerate/slurm-2x8.sbatch",
        "cwm/__init__.py",
    ):
        assert needed in names, f"{needed} is not in the wheel"


@pytest.mark.slow
@pytest.mark.docker
def test_an_installed_wheel_builds_the_image_and_traces(wheel: Path, tmp_path: Path) -> None:
    problem = docker_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    script = f"""
import cwm, sandbox.image as image
assert cwm.__file__.startswith({str(site)!r}), cwm.__file__
assert image.DOCKERFILE.is_file(), image.DOCKERFILE
from cwm.cli import main
code = main(["sandbox", "build-image", "--offline", "--force", "--tag", {TEST_TAG!r}])
assert code == 0, code
from sandbox import Job, Sandbox
with Sandbox("docker", image={TEST_TAG!r}) as box:
    trace = box.run(Job("def f(x):\\n    y = x * 2\\n    return y\\n", "f(21)"))
print(trace.outcome.status, trace.outcome.value, len(trace.events))
"""
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        assert result.stdout.strip().splitlines()[-1] == "returned 42 4", result.stdout
    finally:
        subprocess.run(["docker", "image", "rm", "-f", TEST_TAG], capture_output=True, timeout=120)
