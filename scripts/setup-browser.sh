#!/usr/bin/env bash
# Make this machine ready for the HTML page's browser test (tests/test_report_html.py,
# marked slow): Debian's chromium at /usr/bin/chromium, installed with apt-get only when
# missing (run as root; safe to run again; non-interactive). The test drives it with
# Playwright (pip, in .venv); it never runs `playwright install` and downloads no browser.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v chromium >/dev/null 2>&1; then
  echo "setup-browser: chromium already installed ($(command -v chromium))"
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-browser: run as root (sudo bash scripts/setup-browser.sh)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium
  echo "setup-browser: installed $(command -v chromium)"
fi

if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import playwright" >/dev/null 2>&1; then
  echo "setup-browser: .venv has no playwright; the browser test skips without it (.venv/bin/pip install playwright)"
fi
