"""A Chromium for the browser tests, found or installed without a manual step.

``python tests/chromium.py`` (run by ``make test`` before pytest) uses, in order: Playwright's own
Chromium, a system one (``chromium``, ``chromium-browser``, ``google-chrome``), then tries
``python -m playwright install chromium``, then, on Debian as root, ``apt-get install chromium``.
If none works it exits 1 with one line saying how to get one. The tests call :func:`find` and
fail (never skip) without one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SYSTEM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Debian's chromium refuses to start as root without a sandbox exception, and has no GPU here
ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
HOW = (
    "no Chromium for the browser tests: install one (Debian/Ubuntu: `sudo apt-get install "
    "chromium`; elsewhere: `python -m playwright install chromium`) and run `make test` again"
)


def playwright_own() -> str | None:
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:
        return None
    return path if path and Path(path).is_file() else None


def system() -> str | None:
    for name in SYSTEM:
        found = shutil.which(name)
        if found:
            return found
    return None


def find() -> str | None:
    """The Chromium executable to launch (``None``: none on this machine)."""
    return os.environ.get("IRM_CHROMIUM") or playwright_own() or system()


def _run(*cmd: str) -> bool:
    print("chromium:", " ".join(cmd), flush=True)
    try:
        return subprocess.run(cmd, check=False, timeout=900).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure() -> str | None:
    found = find()
    if found:
        return found
    if _run(sys.executable, "-m", "playwright", "install", "chromium") and find():
        return find()
    if shutil.which("apt-get") and os.geteuid() == 0:
        env_ok = _run("apt-get", "update", "-qq")
        if env_ok and _run("apt-get", "install", "-y", "-qq", "chromium"):
            return find()
    return None


if __name__ == "__main__":
    path = ensure()
    if path is None:
        print(HOW, file=sys.stderr)
        sys.exit(1)
    print(f"chromium: {path}")
