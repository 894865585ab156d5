"""``cwm sandbox build-image | check``: the sandbox's image, and which sandbox runs programs here.

The work is in ``sandbox/``: :func:`sandbox.image.build_image` and
:func:`sandbox.selftest.self_test`; this module parses, calls and reports.
"""

from __future__ import annotations

import argparse
import re

from sandbox.image import DEFAULT_IMAGE, DEFAULT_MIRROR

from ..cli import EXIT_NO_SANDBOX, SANDBOXES, NoSandbox, warnings_as_lines

# a Docker image reference as docker reads one: [host[:port]/]name[/name...][:tag]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = re.compile(rf"(?:[a-zA-Z0-9.-]+(?::\d+)?/)?{_COMPONENT}(?:/{_COMPONENT})*(?::\w[\w.-]{{0,127}})?")


def image_tag(text: str) -> str:
    if not IMAGE_REFERENCE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Docker image name (lower-case name[:tag])")
    return text


def register(commands: argparse._SubParsersAction) -> None:
    box = commands.add_parser(
        "sandbox",
        help="build the sandbox image, check which sandbox runs programs",
        description="Manage the sandbox that runs untrusted programs.",
    )
    actions = box.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    build = actions.add_parser(
        "build-image",
        help="build the Docker image of the sandbox",
        description="Build the sandbox image: from sandbox/Dockerfile (needs a registry), or with "
        "--offline from a Debian trixie root filesystem made by debootstrap (needs root, "
        "debootstrap and an apt mirror). An image already present is reused unless --force.",
    )
    build.add_argument("--offline", action="store_true", help="build without a registry (debootstrap + docker import)")
    build.add_argument("--tag", type=image_tag, default=DEFAULT_IMAGE, help=f"image tag (default: {DEFAULT_IMAGE})")
    build.add_argument("--mirror", default=DEFAULT_MIRROR, help="Debian mirror for --offline")
    build.add_argument("--force", action="store_true", help="rebuild even if the image exists")
    build.set_defaults(handler=cmd_build_image)
    check = actions.add_parser(
        "check",
        help="show the sandbox that would be used and run a self-test",
        description="Print the backend --sandbox would use, its image and Python version, and run a self-test.",
    )
    check.add_argument("--sandbox", choices=SANDBOXES, default="auto", help="the sandbox to check (default: auto)")
    check.set_defaults(handler=cmd_sandbox_check)


def cmd_build_image(args: argparse.Namespace) -> int:
    from sandbox import SandboxError
    from sandbox.image import build_image

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        image = build_image(
            args.tag, offline=args.offline, force=args.force, mirror=args.mirror, progress=say if args.offline else None
        )
    except SandboxError as exc:
        raise NoSandbox(str(exc)) from None
    if image.built:
        print(f"built {image.tag} (Python {image.python})")
    else:
        print(f"{image.tag} is already built (Python {image.python}); --force rebuilds it")
    return 0


def cmd_sandbox_check(args: argparse.Namespace) -> int:
    from sandbox import Sandbox, SandboxUnavailable
    from sandbox.selftest import self_test

    try:
        with warnings_as_lines():  # sandbox 'none' is not isolated: one line
            box = Sandbox(args.sandbox)
    except SandboxUnavailable as exc:
        raise NoSandbox(str(exc)) from None
    failures = 0
    with box:
        info = box.describe()
        print(f"backend: {info['backend']}")
        print(f"image:   {info['image']}")
        print(f"python:  {info['python']}")
        for result in self_test(box):
            failures += not result.passed
            print(f"{'ok  ' if result.passed else 'FAIL'} {result.name} ({result.status})")
    return 0 if failures == 0 else EXIT_NO_SANDBOX
