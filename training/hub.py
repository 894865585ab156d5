"""Where a model name points: a folder here, or the Hugging Face hub, and whether the hub
answers. Offline, ``from_pretrained`` on a hub id spends about 50 seconds in
huggingface_hub's retries before it says so; asked once (a TCP connection to the
endpoint, a few seconds at most), the loaders go to the local cache alone instead and
fail at once when the model is not there, saying why.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

CONNECT_SECONDS = 3.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def is_local(name: str) -> bool:
    """Whether ``name`` means a folder here rather than a hub id (``owner/name`` or ``gpt2``)."""
    return name.startswith((".", "/", "~")) or name.count("/") >= 2 or Path(name).expanduser().exists()


@functools.cache
def hub_reachable() -> bool:
    """Whether the hub's endpoint (``HF_ENDPOINT``) takes a connection. Behind a proxy, or with
    ``HF_HUB_OFFLINE`` set, the libraries decide: then this says True."""
    if any(os.environ.get(v) for v in _PROXY_VARIABLES) or _offline_mode():
        return True
    try:
        from huggingface_hub import constants

        endpoint = urlparse(constants.ENDPOINT)
    except ImportError:
        return True
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((endpoint.hostname or "", port), timeout=CONNECT_SECONDS).close()
    except OSError:
        return False
    return True


def _offline_mode() -> bool:
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def hub_kwargs(name: str) -> dict[str, Any]:
    """What ``from_pretrained(name, ...)`` needs here: the local cache only, when ``name`` is
    a hub id and the hub cannot be reached."""
    return {} if is_local(name) or hub_reachable() else {"local_files_only": True}


def unreachable_note(name: str) -> str:
    """A note for an error about loading ``name``: the hub was not asked, and why."""
    if is_local(name) or hub_reachable():
        return ""
    return "; the hub cannot be reached from here, so only the local cache was looked in"


# what a folder must hold to be loaded as each: a transformers save_pretrained folder
_FOLDER_MARKS = {
    "model": ("config.json", "adapter_config.json"),  # a model, or a LoRA run's adapter (its base named in it)
    "tokenizer": ("tokenizer.json", "tokenizer_config.json", "vocab.json"),
}


def folder_problem(name: str, what: str) -> str | None:
    """Why a local ``name`` cannot be a ``what`` ("model" or "tokenizer") folder, before
    transformers says it less plainly; None for a hub id or a folder that looks right."""
    if not is_local(name):
        return None
    path = Path(name).expanduser()
    if not path.exists():
        return "no such folder"
    if not path.is_dir():
        return "not a folder"
    marks = _FOLDER_MARKS[what]
    if not any((path / mark).is_file() for mark in marks):
        hint = f"; a `cwm train` run? its {what} is in {str(path / 'final')!r}" if (path / "final").is_dir() else ""
        return f"not a {what} folder: it holds no {' or '.join(marks)}{hint}"
    return None
