"""One stage at a time per root, and a tracking server that is down fails fast."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from irm_models.config import TrackingStore
from irm_models.errors import ConfigError
from irm_models.lock import Locked, root_lock
from irm_models.tracking import check_reachable

HOLD = (
    "import sys, time; from pathlib import Path; from irm_models.lock import root_lock\n"
    "with root_lock(Path(sys.argv[1]), 'score'):\n"
    "    print('held', flush=True); time.sleep(float(sys.argv[2]))\n"
)


def _holder(lock: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the lock as `irm score` would."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_stage_on_the_same_root_exits_at_once_naming_the_first(tmp_path):
    lock = tmp_path / ".irm.lock"
    proc = _holder(lock, 30)
    try:
        with pytest.raises(Locked) as info, root_lock(lock, "score"):
            pass
        message = str(info.value)
        assert f"irm score (pid {proc.pid}) is running on paths.root {tmp_path}" in message
        assert "--wait" in message and Locked.exit_code == 2
    finally:
        proc.kill()
        proc.wait()


def test_the_os_releases_the_lock_of_a_killed_process(tmp_path):
    lock = tmp_path / ".irm.lock"
    proc = _holder(lock, 30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with root_lock(lock, "train"):
        assert lock.read_text().split() == [str(os.getpid()), "train"]


def test_wait_waits_for_the_first_to_finish(tmp_path):
    lock = tmp_path / ".irm.lock"
    proc = _holder(lock, 1.5)
    said: list[str] = []
    started = time.monotonic()
    with root_lock(lock, "score", wait=True, say=said.append):
        assert time.monotonic() - started > 1.0  # only once the holder let go
    assert said == [f"waiting for irm score (pid {proc.pid}) to finish on paths.root {tmp_path}"]
    proc.wait()


def test_the_cli_refuses_a_second_stage_on_a_locked_root(irm, tmp_path):
    proc = _holder(tmp_path / ".irm.lock", 30)
    try:
        result = irm("generate", f"paths.root={tmp_path}", "generate.customers=5")
        assert result.code == 2
        assert result.err.startswith(f"irm generate: error: irm score (pid {proc.pid}) is running")
        assert not (tmp_path / "data").exists()  # nothing written
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------------------ tracking server


def test_a_local_store_needs_no_server():
    check_reachable(TrackingStore("sqlite:////tmp/x.db", "e", None), 1)


def test_a_server_that_refuses_fails_at_once_naming_it():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with pytest.raises(ConfigError, match=f"the MLflow tracking server {uri} does not answer"):
        check_reachable(TrackingStore(uri, "e", None), 15)
    assert time.monotonic() - started < 10


def test_a_server_that_never_answers_fails_within_the_timeout():
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(ConfigError, match=r"within 0\.5 s"):
            check_reachable(TrackingStore(uri, "e", None), 0.5)
        assert time.monotonic() - started < 5


def test_any_http_answer_means_a_server_is_there():
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        check_reachable(TrackingStore(f"http://127.0.0.1:{server.server_port}", "e", None), 5)
    finally:
        thread.join(5)
        server.server_close()


def test_irm_train_with_a_dead_server_fails_in_one_line_and_writes_nothing(
    irm, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    started = time.monotonic()
    result = irm("train", f"paths.root={tmp_path}")
    assert result.code == 2 and time.monotonic() - started < 15
    (line,) = result.err.splitlines()
    assert line.startswith(
        "irm train: error: the MLflow tracking server http://127.0.0.1:9 does not answer"
    )
    assert [p.name for p in tmp_path.iterdir()] == [".irm.lock"]  # nothing but the lock
