"""Fixtures of the Python tests: a channel name per test, the Rust peer
(``examples/src/bin/py-peer.rs``) as a process, and the schema files.

``scripts/test`` builds the peer and passes its path in ``DATAHUB_PY_PEER``;
tests that need it are skipped, with the reason, when it is not set.
"""

import itertools
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

import datahub

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
PEER_ENV = "DATAHUB_PY_PEER"

_counter = itertools.count()


def unique_channel(tag: str = "py") -> str:
    """A channel name no other test (or test run) uses: tag, pid, counter."""
    return f"{tag}-{os.getpid()}-{next(_counter)}"


@pytest.fixture
def channel() -> Iterator[str]:
    """A fresh channel name. Afterwards its segment is removed if it was
    abandoned (producer dead, no live consumer): a killed or failed test
    leaves nothing in /dev/shm. A channel still in use is left alone."""
    name = unique_channel()
    yield name
    datahub.cleanup(name)


@pytest.fixture
def schemas() -> Path:
    """The workspace's ``schemas/`` directory."""
    return SCHEMAS


@pytest.fixture(scope="session")
def peer_path() -> Path:
    """The py-peer binary, from ``$DATAHUB_PY_PEER``."""
    path = os.environ.get(PEER_ENV)
    if not path:
        pytest.skip(
            f"{PEER_ENV} is not set: run the tests with scripts/test, or build the peer "
            f"(cargo build -p datahub-examples --bin py-peer) and set {PEER_ENV} to its path"
        )
    peer = Path(path)
    if not (peer.is_file() and os.access(peer, os.X_OK)):
        pytest.fail(f"{PEER_ENV}={path} is not an executable file")
    return peer


class Peer:
    """A running py-peer process. Its standard output is read line by line
    in a thread, so a test can wait for a line without blocking on the pipe."""

    def __init__(self, path: Path, args: List[str]) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [str(path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.stdout: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def expect_line(self, wanted: str, timeout: float = 30.0) -> None:
        """Waits until the peer prints the line ``wanted``; fails with what
        it printed instead if it exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"py-peer {self.args}: no line {wanted!r} within {timeout} s; "
                            f"stdout so far: {self.stdout}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.process.wait()
                stderr = self.process.stderr.read() if self.process.stderr else ""
                pytest.fail(f"py-peer {self.args} exited ({self.process.returncode}) before "
                            f"printing {wanted!r}; stdout {self.stdout}, stderr {stderr!r}")
            self.stdout.append(line)
            if line == wanted:
                return

    def finish(self, timeout: float = 60.0) -> List[str]:
        """Waits for the peer to exit and checks it succeeded; returns every
        line it printed. A failure shows its stderr (the first mismatch)."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"py-peer {self.args} did not exit within {timeout} s")
        self._reader.join(timeout=5)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.stdout.append(line)
        stderr = self.process.stderr.read() if self.process.stderr else ""
        if self.process.returncode != 0:
            pytest.fail(f"py-peer {self.args} failed ({self.process.returncode}): {stderr.strip()}")
        return self.stdout

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Sends ``sig`` (SIGKILL: no chance to clean up) and reaps it."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def peer(peer_path: Path) -> Iterator[Callable[..., Peer]]:
    """``peer("produce-sensor", name, 100)`` starts py-peer with those
    arguments and returns a ``Peer``; every peer a test started and did not
    finish is killed afterwards."""
    started: List[Peer] = []

    def start(mode: str, *args: object) -> Peer:
        p = Peer(peer_path, [mode, *map(str, args)])
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()
        # A producer killed here leaves its segment: remove it if abandoned
        # (whatever the order the channel fixture is torn down in).
        if p.args[0] != "pattern" and len(p.args) > 1:
            datahub.cleanup(p.args[1])
