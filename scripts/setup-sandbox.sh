#!/usr/bin/env bash
# Make this machine ready for the Docker sandbox (run as root; safe to run again):
#   1. apt-get install docker.io, debootstrap and bubblewrap, only those missing;
#   2. start dockerd in the background unless a daemon already answers
#      (log: /tmp/cwm-dockerd.log; extra flags: CWM_DOCKERD_FLAGS="--storage-driver=vfs ...");
#   3. build the sandbox image offline (debootstrap + docker import), or reuse it.
# Needs .venv (scripts/setup.sh). Extra arguments go to `cwm sandbox build-image`,
# e.g. `--tag`, `--mirror`, `--force`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-sandbox: run as root (sudo bash scripts/setup-sandbox.sh)" >&2
  exit 1
fi

# 1. Packages, only those missing (apt-get update only then).
missing=()
{ command -v dockerd && command -v docker; } >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-sandbox: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. A Docker daemon.
LOG=/tmp/cwm-dockerd.log
daemon_answers() { timeout 10 docker info >/dev/null 2>&1; }

start_dockerd() {  # $@: extra dockerd flags; returns 0 once the daemon answers (60 s at most)
  echo "setup-sandbox: starting dockerd $* (log: $LOG)"
  # own session, so it outlives this script and its process group
  setsid nohup dockerd "$@" >"$LOG" 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 60); do
    if daemon_answers; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then return 1; fi  # it exited: no point waiting
    sleep 1
  done
  return 1
}

if daemon_answers; then
  echo "setup-sandbox: a Docker daemon answers"
elif pgrep -x dockerd >/dev/null 2>&1; then
  echo "setup-sandbox: dockerd runs but does not answer; waiting up to 60 s"
  for _ in $(seq 60); do daemon_answers && break; sleep 1; done
  daemon_answers || { echo "setup-sandbox: dockerd (pid $(pgrep -x dockerd | tr '\n' ' ')) does not answer" >&2; exit 1; }
else
  # shellcheck disable=SC2086  # CWM_DOCKERD_FLAGS is a list of flags
  if ! start_dockerd ${CWM_DOCKERD_FLAGS:-}; then
    echo "setup-sandbox: dockerd did not come up; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2 || true
    if [ -z "${CWM_DOCKERD_FLAGS:-}" ] && ! pgrep -x dockerd >/dev/null 2>&1; then
      # Where the kernel lacks iptables/nat or overlayfs (nested containers), these get a daemon that
      # suffices for the sandbox (containers have no network, and vfs only costs disk and start time).
      cp "$LOG" "$LOG.1" 2>/dev/null || true
      if ! start_dockerd --iptables=false --storage-driver=vfs; then
        echo "setup-sandbox: dockerd did not come up with --iptables=false --storage-driver=vfs either;" \
          "last lines of $LOG:" >&2
        tail -n 30 "$LOG" >&2 || true
        exit 1
      fi
    else
      exit 1
    fi
  fi
  echo "setup-sandbox: dockerd answers"
fi

# 3. The image (reused when present).
if [ ! -x .venv/bin/python ]; then
  echo "setup-sandbox: no .venv; run scripts/setup.sh first" >&2
  exit 1
fi
.venv/bin/cwm sandbox build-image --offline "$@"
