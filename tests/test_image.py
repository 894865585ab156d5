"""The sandbox image (sandbox/image.py): built offline or reused, and what programs find inside it.

Needs a Docker daemon; skipped (with the reason) where none answers. The image is
built once if missing (about 35 s, root and debootstrap needed), then reused.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.errors import SandboxUnavailable
from sandbox.image import (
    DEFAULT_IMAGE,
    LABEL_PYTHON,
    LABEL_SANDBOX,
    docker_client,
    ensure_image,
    image_exists,
    image_python_version,
    python_version_in_container,
)

pytestmark = pytest.mark.docker

VERSION = re.compile(r"3\.13\.\d+")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    try:
        client = docker_client(timeout=30)
    except SandboxUnavailable as exc:
        if os.environ.get("CI"):  # CI starts dockerd: a skip there would hide a broken set-up
            pytest.fail(f"no Docker daemon in CI: {exc}")
        pytest.skip(f"no Docker daemon: {exc}")
    ensure_image(client, DEFAULT_IMAGE, offline=True)
    yield client
    client.close()


def run(client: Any, *command: str, **options: Any) -> str:
    """Runs a command in a throwaway container of the sandbox image; its stdout."""
    out = client.containers.run(
        DEFAULT_IMAGE, list(command), network_disabled=True, network_mode="none", remove=True, **options
    )
    return str(out.decode().strip())


def test_image_exists_after_ensure_image(client: Any) -> None:
    assert image_exists(client, DEFAULT_IMAGE)
    assert not image_exists(client, "cwm-sandbox:no-such-tag")
    image_id = ensure_image(client, DEFAULT_IMAGE, offline=True)  # reused, not rebuilt
    assert image_id == client.images.get(DEFAULT_IMAGE).id
    labels = client.images.get(DEFAULT_IMAGE).labels
    assert labels[LABEL_SANDBOX] == "1"
    assert VERSION.fullmatch(labels[LABEL_PYTHON])


def test_python3_version_as_nobody(client: Any) -> None:
    config = client.images.get(DEFAULT_IMAGE).attrs["Config"]
    assert config["User"] == "65534:65534"
    assert config["WorkingDir"] == "/tmp"
    assert config["Cmd"] == ["python3"]
    assert re.fullmatch(r"Python 3\.13\.\d+", run(client, "python3", "--version"))
    assert run(client, "id", "-u") == "65534"


def test_environment(client: Any) -> None:
    script = (
        "import json,os,sys;"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'cwd': os.getcwd(),"
        " 'env': dict(os.environ), 'hash_randomization': sys.flags.hash_randomization,"
        " 'dont_write_bytecode': sys.flags.dont_write_bytecode, 'path': sys.path,"
        " 'tmp_mode': oct(os.stat('/tmp').st_mode & 0o7777), 'opt_cwm': os.listdir('/opt/cwm'),"
        " 'hash': hash('cwm')}))"
    )
    first = json.loads(run(client, "python3", "-c", script))
    assert (first["uid"], first["gid"], first["cwd"]) == (65534, 65534, "/tmp")
    assert first["env"]["PYTHONHASHSEED"] == "0"
    assert first["env"]["PYTHONDONTWRITEBYTECODE"] == "1"
    assert first["env"]["PYTHONPATH"] == "/opt/cwm"
    assert first["hash_randomization"] == 0 and first["dont_write_bytecode"] == 1
    assert "/opt/cwm" in first["path"]
    assert first["tmp_mode"] == "0o1777"
    assert first["opt_cwm"] == []
    second = json.loads(run(client, "python3", "-c", script))
    assert second["hash"] == first["hash"]  # string hashes are the same in every container


def test_read_only_root_with_tmpfs_scratch(client: Any) -> None:
    script = """
import json, os
result = {}
with open('/tmp/scratch', 'w') as f:
    f.write('ok')
result['tmp'] = open('/tmp/scratch').read()
for path in ('/opt/cwm/x', '/x', '/usr/lib/python3.13/x'):
    try:
        open(path, 'w')
        result[path] = 'written'
    except OSError as exc:
        result[path] = exc.errno
import asyncio, ctypes, decimal, sqlite3, ssl, zoneinfo  # the standard library is all there
print(json.dumps(result))
"""
    out = run(
        client,
        "python3",
        "-c",
        script,
        read_only=True,
        tmpfs={"/tmp": "rw,nosuid,nodev,size=16m,mode=1777"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user="65534:65534",
    )
    result = json.loads(out)
    assert result["tmp"] == "ok"
    assert result["/opt/cwm/x"] == result["/x"] == result["/usr/lib/python3.13/x"] == 30  # EROFS


def test_image_python_version(client: Any) -> None:
    version = image_python_version(client, DEFAULT_IMAGE)
    assert VERSION.fullmatch(version)
    assert python_version_in_container(client, DEFAULT_IMAGE) == version  # the label tells the truth
