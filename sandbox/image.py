"""The sandbox image: find it, build it (with or without a registry), ask its Python version.

Two recipes give equivalent images:

* ``build_from_dockerfile``: ``sandbox/Dockerfile`` (``FROM python:3.13-slim``), for
  machines that reach a container registry.
* ``build_offline``: no registry. ``debootstrap --variant=minbase --include=python3``
  of Debian trixie (whose ``python3`` is 3.13) from an apt mirror, trimmed (apt
  lists and caches, docs, man pages, translations, logs), imported with
  ``docker import``. Needs root and ``debootstrap``.

Both images run ``python3`` as ``nobody`` (65534:65534) in ``/tmp`` with
``PYTHONHASHSEED=0``, ``PYTHONDONTWRITEBYTECODE=1``, ``PYTHONPATH=/opt/cwm``
(the tracer code is bind-mounted there, read-only, at run time) and
``LANG=C.UTF-8``, and carry the labels ``org.cwm.sandbox=1`` and ``org.cwm.python=<version>``.

Command line (what ``scripts/setup-sandbox.sh`` runs)::

    python -m sandbox.image --offline            # reuse the image, or build it without a registry
    python -m sandbox.image --dockerfile --tag cwm-sandbox:3.13
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SandboxError, SandboxUnavailable

if TYPE_CHECKING:
    from docker import DockerClient

# docker-py is imported inside the functions that talk to the daemon, not here: `import sandbox`
# (and `cwm --help`, `cwm trace --sandbox process`) must not pay for it (about 0.1 s)

DEFAULT_IMAGE = "cwm-sandbox:3.13"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SUITE = "trixie"  # Debian 13: python3 is 3.13
SANDBOX_DIR = Path(__file__).resolve().parent
DOCKERFILE = SANDBOX_DIR / "Dockerfile"
# what every sandbox mounts read-only, and where: the tracer package and the fork server
TRACER_DIR = SANDBOX_DIR.parent / "tracer"
FORKSERVER = SANDBOX_DIR / "forkserver.py"
MOUNT_DIR = "/opt/cwm"  # on PYTHONPATH in the sandbox: MOUNT_DIR/tracer, MOUNT_DIR/forkserver.py

LABEL_SANDBOX = "org.cwm.sandbox"
LABEL_PYTHON = "org.cwm.python"

# Image settings shared by both recipes (the Dockerfile spells out the same ones).
IMAGE_USER = "65534:65534"  # nobody:nogroup
IMAGE_ENV = {
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONPATH": MOUNT_DIR,
    # what python:3.13-slim sets too, so both recipes give programs the same environment
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
IMAGE_WORKDIR = "/tmp"
IMAGE_CMD = ["python3"]

_VERSION_SCRIPT = "import platform;print(platform.python_version())"

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def docker_client(timeout: float = 60) -> DockerClient:
    """A docker-py client whose daemon answers, or ``SandboxUnavailable`` saying how to start one."""
    import docker
    import docker.errors

    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except docker.errors.DockerException as exc:
        raise SandboxUnavailable(
            f"cannot reach a Docker daemon at {where} ({exc}). Start one: as root, "
            "`bash scripts/setup-sandbox.sh` installs Docker if needed, starts `dockerd` and builds the image "
            "(or `systemctl start docker`, or `dockerd &`); a non-root user also needs access to the socket "
            "(the `docker` group), or point DOCKER_HOST at a daemon."
        ) from None
    return client


def image_exists(client: DockerClient, tag: str) -> bool:
    """Whether the daemon has an image by this name (or id)."""
    import docker.errors

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def image_python_version(client: DockerClient, tag: str = DEFAULT_IMAGE) -> str:
    """The image's Python version (e.g. ``3.13.5``): its ``org.cwm.python`` label, else asked of the image."""
    import docker.errors

    try:
        labels = client.images.get(tag).labels or {}
    except docker.errors.ImageNotFound:
        raise SandboxError(f"no image {tag}") from None
    version = str(labels.get(LABEL_PYTHON, "")).strip()
    if re.fullmatch(r"\d+\.\d+\.\d+\S*", version):
        return version
    return python_version_in_container(client, tag)


def python_version_in_container(client: DockerClient, tag: str = DEFAULT_IMAGE) -> str:
    """Runs ``python3`` in a throwaway container (no network, removed after) for its version."""
    import docker.errors

    try:
        out = client.containers.run(
            tag,
            ["python3", "-c", _VERSION_SCRIPT],
            network_disabled=True,
            network_mode="none",
            remove=True,  # removed once its output is read (``auto_remove`` races the log read)
            stdout=True,
            stderr=False,
        )
    except docker.errors.DockerException as exc:
        raise SandboxError(f"cannot run python3 in {tag}: {exc}") from None
    text = out.decode("utf-8", "replace").strip() if isinstance(out, bytes) else str(out).strip()
    if not re.fullmatch(r"\d+\.\d+\.\d+\S*", text):
        raise SandboxError(f"python3 in {tag} printed {text!r} for its version")
    return text


def ensure_image(
    client: DockerClient,
    tag: str = DEFAULT_IMAGE,
    offline: bool = True,
    progress: Progress | None = None,
    *,
    mirror: str = DEFAULT_MIRROR,
    suite: str = DEFAULT_SUITE,
) -> str:
    """The image's id: the existing image if there is one, else a new build (offline or from the Dockerfile)."""
    say = progress or _quiet
    existing = _image_id(client, tag)
    if existing is None:
        with _build_lock(tag):  # another process may be building it: wait for it, then reuse its image
            existing = _image_id(client, tag)
            if existing is None:
                if offline:
                    return build_offline(client, tag, mirror=mirror, suite=suite, progress=progress)
                return build_from_dockerfile(client, tag, progress=progress)
    say(f"reusing image {tag} ({existing})")
    return existing


@dataclass(frozen=True)
class ImageReport:
    """What :func:`build_image` found or made."""

    tag: str
    python: str  # the image's Python version, e.g. 3.13.5
    built: bool  # False: the daemon already had the image and it was reused


def build_image(
    tag: str = DEFAULT_IMAGE,
    *,
    offline: bool = False,
    force: bool = False,
    mirror: str = DEFAULT_MIRROR,
    progress: Progress | None = None,
) -> ImageReport:
    """The image ``tag``, built from the Dockerfile (``offline``: debootstrap) unless the daemon has it.

    ``force`` rebuilds an image that exists. What ``cwm sandbox build-image``
    runs; ``SandboxUnavailable`` when no daemon answers, ``SandboxError`` when
    the build fails.
    """
    client = docker_client()
    if image_exists(client, tag) and not force:
        return ImageReport(tag, image_python_version(client, tag), built=False)
    if offline:
        build_offline(client, tag, mirror=mirror, progress=progress)
    else:
        build_from_dockerfile(client, tag, progress=progress)
    return ImageReport(tag, image_python_version(client, tag), built=True)


@contextlib.contextmanager
def _build_lock(tag: str) -> Iterator[None]:
    """A host-wide lock per tag (best effort: without a lock file, no lock)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", tag)
    try:
        fd = os.open(os.path.join(_default_workdir(), f"cwm-image-{name}.lock"), os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def build_from_dockerfile(client: DockerClient, tag: str = DEFAULT_IMAGE, *, progress: Progress | None = None) -> str:
    """Builds ``sandbox/Dockerfile`` (context: ``sandbox/``; pulls ``python:3.13-slim``) and returns the image id."""
    import docker.errors

    say = progress or _quiet
    say(f"building {tag} from {DOCKERFILE}")
    image_id = ""
    tail: list[str] = []
    try:
        for chunk in client.api.build(
            path=str(SANDBOX_DIR), dockerfile=DOCKERFILE.name, tag=tag, rm=True, forcerm=True, decode=True
        ):
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error")
                raise SandboxError(f"docker build of {tag} failed: {detail}" + _tail_text(tail))
            text = str(chunk.get("stream") or chunk.get("status") or "").rstrip()
            if text:
                tail = [*tail[-19:], text]
                say(text)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
    except docker.errors.DockerException as exc:
        raise SandboxError(f"docker build of {tag} failed: {exc}" + _tail_text(tail)) from None
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        if image_id:
            return image_id
        raise SandboxError(f"docker build of {tag} finished but made no image" + _tail_text(tail)) from None


def build_offline(
    client: DockerClient,
    tag: str = DEFAULT_IMAGE,
    *,
    mirror: str = DEFAULT_MIRROR,
    suite: str = DEFAULT_SUITE,
    workdir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> str:
    """Builds the image with no registry (debootstrap + ``docker import``) and returns its id.

    The root filesystem is made under ``workdir`` (default ``/var/tmp``: ``/tmp``
    is often a small or ``noexec`` tmpfs, where debootstrap cannot run) and is
    always removed afterwards. If ``tag``'s version part names a Python
    (``cwm-sandbox:3.13``) the suite's ``python3`` must be that version.
    """
    say = progress or _quiet
    debootstrap = shutil.which(_sbin_tool("debootstrap"))
    if debootstrap is None:
        raise SandboxError(
            "building the sandbox image offline needs debootstrap: `apt-get install debootstrap` "
            "(or run `bash scripts/setup-sandbox.sh` as root)"
        )
    if os.geteuid() != 0:
        raise SandboxError(
            "building the sandbox image offline needs root (debootstrap chroots and creates root-owned files): "
            "run `sudo bash scripts/setup-sandbox.sh`, or build from the Dockerfile where a registry is reachable"
        )
    base = Path(workdir) if workdir is not None else _default_workdir()
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cwm-sandbox-image-", dir=base))
    rootfs = work / "rootfs"
    started = time.monotonic()
    previous = _image_id(client, tag)
    try:
        _debootstrap(debootstrap, rootfs, suite=suite, mirror=mirror, log=work / "debootstrap.out", say=say)
        say(f"debootstrap done in {time.monotonic() - started:.0f}s")
        _unmount_under(rootfs)
        version = _rootfs_python_version(rootfs)
        _check_tag_version(tag, version)
        say(f"python3 in the root filesystem: {version}")
        _trim(rootfs)
        tarball = work / "rootfs.tar"
        _write_tar(rootfs, tarball)
        say(f"importing {tarball.stat().st_size / 2**20:.0f} MiB as {tag}")
        image_id = _import(client, tarball, tag, version)
        _remove_replaced(client, previous, image_id)
        say(f"built {tag} ({image_id}) in {time.monotonic() - started:.0f}s")
        return image_id
    finally:
        _remove_workdir(work)


def _sbin_tool(name: str) -> str:
    """The path of a system tool, looking in the sbin directories too (they are not on every PATH)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
    return shutil.which(name, path=search) or name


def _default_workdir() -> Path:
    for candidate in ("/var/tmp", tempfile.gettempdir()):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return Path(candidate)
    return Path(tempfile.gettempdir())


def _debootstrap(debootstrap: str, rootfs: Path, *, suite: str, mirror: str, log: Path, say: Progress) -> None:
    command = [debootstrap, "--variant=minbase", "--include=python3", suite, str(rootfs), mirror]
    say(f"running {' '.join(command)}")
    env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
    env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
    lines: list[str] = []
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env
        )
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                out.write(line)
                line = line.rstrip()
                lines = [*lines[-39:], line]
                if _is_phase(line):
                    say(line)
        except BaseException:  # interrupted: stop debootstrap before the caller removes its directory
            proc.kill()
            proc.wait()
            raise
        rc = proc.wait()
    if rc != 0:
        inner = rootfs / "debootstrap" / "debootstrap.log"
        inner_tail = ""
        if inner.is_file():
            inner_lines = inner.read_text("utf-8", "replace").splitlines()[-20:]
            inner_tail = "\n--- debootstrap.log ---\n" + "\n".join(inner_lines)
        raise SandboxError(
            f"debootstrap of {suite} from {mirror} failed (exit {rc}); last lines:\n"
            + "\n".join(lines[-20:])
            + inner_tail
        )


_PER_PACKAGE = re.compile(r"^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) (\S+)")


def _is_phase(line: str) -> bool:
    """Whether a debootstrap output line marks a phase (not one of hundreds of per-package lines)."""
    if not line.startswith("I: "):
        return bool(line.strip())  # warnings, errors
    match = _PER_PACKAGE.match(line)
    if match is None:
        return not line.startswith("I: Found ") and not line.startswith("I: Checking component")
    return match.group(2) in {"Release", "InRelease", "Packages", "required", "the", "base"}


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def _unmount_under(path: Path) -> None:
    """Unmounts whatever debootstrap left mounted in the root filesystem (proc, sys, ...)."""
    if not path.exists():
        return
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run([_sbin_tool("umount"), "--lazy", point], check=False, capture_output=True)


def _remove_workdir(work: Path) -> None:
    """Removes the build directory, never crossing into something still mounted (e.g. the host's /proc)."""
    if not work.exists():
        return
    _unmount_under(work)
    left = _mounts_under(work)
    if left:
        raise SandboxError(f"not removing {work}: still mounted there: {', '.join(left)}")
    shutil.rmtree(work, ignore_errors=True)


def _rootfs_python_version(rootfs: Path) -> str:
    chroot = _sbin_tool("chroot")
    try:
        result = subprocess.run(
            [chroot, str(rootfs), "/usr/bin/python3", "-c", _VERSION_SCRIPT],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"cannot run python3 in the new root filesystem: {exc}") from None
    version = result.stdout.strip()
    if result.returncode != 0 or not re.fullmatch(r"\d+\.\d+\.\d+\S*", version):
        raise SandboxError(f"python3 in the new root filesystem does not run: {result.stderr.strip() or version!r}")
    return version


def _check_tag_version(tag: str, version: str) -> None:
    from docker.utils import parse_repository_tag

    _, tag_part = parse_repository_tag(tag)
    if tag_part and re.fullmatch(r"\d+\.\d+", tag_part) and not version.startswith(tag_part + "."):
        raise SandboxError(f"the image is tagged {tag} but its python3 is {version}: pick another suite or tag")


def _trim(rootfs: Path) -> None:
    """Removes what a sandbox never needs; keeps the whole Python standard library and the C.UTF-8 locale."""

    def empty(directory: str, keep: Callable[[Path], bool] = lambda _p: False) -> None:
        top = rootfs / directory
        if not top.is_dir() or top.is_symlink():
            return
        for entry in top.iterdir():
            if keep(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    empty("var/lib/apt/lists", keep=lambda p: p.name in {"partial", "lock"})
    empty("var/cache/apt")
    empty("var/cache/debconf", keep=lambda p: not p.name.endswith("-old"))
    empty("var/cache/ldconfig")
    empty("var/log")
    empty("var/tmp")
    empty("usr/share/man")
    empty("usr/share/info")
    empty("usr/share/lintian")
    empty("usr/share/linda")
    empty("usr/share/locale", keep=lambda p: p.name == "locale.alias")  # translations
    empty("usr/lib/locale", keep=lambda p: p.name == "C.utf8")
    # docs: keep only each package's copyright notice
    doc = rootfs / "usr/share/doc"
    if doc.is_dir():
        for package in doc.iterdir():
            if package.is_dir() and not package.is_symlink():
                empty(f"usr/share/doc/{package.name}", keep=lambda p: p.name == "copyright")
    empty("dev")  # the runtime provides /dev
    empty("tmp")
    for host_file in ("etc/resolv.conf", "etc/hostname"):  # debootstrap copies the host's
        path = rootfs / host_file
        if path.is_file() or path.is_symlink():
            path.unlink()
    for directory in ("proc", "sys", "dev", "opt"):
        (rootfs / directory).mkdir(mode=0o755, exist_ok=True)
    (rootfs / "opt/cwm").mkdir(mode=0o755, exist_ok=True)
    (rootfs / "tmp").mkdir(exist_ok=True)
    os.chmod(rootfs / "tmp", 0o1777)
    os.chmod(rootfs / "opt/cwm", 0o755)
    os.chmod(rootfs, 0o755)


def _write_tar(rootfs: Path, tarball: Path) -> None:
    def numeric(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uname = info.gname = ""
        return info

    with tarfile.open(tarball, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(entry, arcname=entry.name, recursive=True, filter=numeric)


def _import(client: DockerClient, tarball: Path, tag: str, version: str) -> str:
    import docker.errors
    from docker.utils import parse_repository_tag

    repository, tag_part = parse_repository_tag(tag)
    changes = [f"ENV {name}={value}" for name, value in IMAGE_ENV.items()]
    changes += [
        f"USER {IMAGE_USER}",
        f"WORKDIR {IMAGE_WORKDIR}",
        f"CMD {json.dumps(IMAGE_CMD)}",
        f"LABEL {LABEL_SANDBOX}=1",
        f"LABEL {LABEL_PYTHON}={version}",
    ]
    try:
        # from a file path docker-py posts with no read timeout (importing takes a while)
        answer = client.api.import_image_from_file(
            str(tarball), repository=repository, tag=tag_part or "latest", changes=changes
        )
    except docker.errors.DockerException as exc:
        raise SandboxError(f"docker import of {tag} failed: {exc}") from None
    image_id = ""
    for message in _json_lines(str(answer)):
        if "error" in message or "errorDetail" in message:
            detail = message.get("errorDetail", {}).get("message") or message.get("error")
            raise SandboxError(f"docker import of {tag} failed: {detail}")
        status = str(message.get("status", ""))
        if status.startswith("sha256:"):
            image_id = status
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        if image_id:
            return image_id
        raise SandboxError(f"docker import of {tag} made no image (daemon said: {answer!r})") from None


def _image_id(client: DockerClient, tag: str) -> str | None:
    import docker.errors

    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        return None


def _remove_replaced(client: DockerClient, previous: str | None, current: str) -> None:
    """Removes the image a rebuild untagged, unless something still uses it."""
    import docker.errors

    if previous is None or previous == current:
        return
    try:
        if not client.images.get(previous).tags:
            client.images.remove(previous)
    except docker.errors.DockerException:
        pass  # in use by a container, or already gone


def _json_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def _tail_text(lines: list[str]) -> str:
    return ("; last output:\n" + "\n".join(lines[-20:])) if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.image", description="Build the sandbox image unless the daemon already has it."
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--offline", dest="offline", action="store_true", default=True, help="debootstrap + docker import (default)"
    )
    how.add_argument("--dockerfile", dest="offline", action="store_false", help="docker build of sandbox/Dockerfile")
    parser.add_argument("--tag", default=DEFAULT_IMAGE, help=f"image name (default {DEFAULT_IMAGE})")
    parser.add_argument(
        "--mirror", default=DEFAULT_MIRROR, help=f"Debian mirror for --offline (default {DEFAULT_MIRROR})"
    )
    parser.add_argument("--suite", default=DEFAULT_SUITE, help=f"Debian suite for --offline (default {DEFAULT_SUITE})")
    parser.add_argument("--rebuild", action="store_true", help="build even if the image exists")
    args = parser.parse_args(argv)

    started = time.monotonic()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    try:
        client = docker_client()
        if args.rebuild and args.offline:
            image_id = build_offline(client, args.tag, mirror=args.mirror, suite=args.suite, progress=say)
        elif args.rebuild:
            image_id = build_from_dockerfile(client, args.tag, progress=say)
        else:
            image_id = ensure_image(
                client, args.tag, offline=args.offline, progress=say, mirror=args.mirror, suite=args.suite
            )
        version = image_python_version(client, args.tag)
        size = client.images.get(args.tag).attrs.get("Size", 0)
    except SandboxError as exc:
        print(f"sandbox image: {exc}", file=sys.stderr)
        return 1
    print(f"{args.tag} {image_id} python {version} ({size / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
