"""Great Expectations in a process of its own, started before the first validation needs it.

Importing GX takes 4-6 s of one core: at medium, more than validating a steady week's
samples. A process about to run the weekly cycle calls `start()` first (`soe run`, `soe demo`,
the tests and the benchmark through `runner`, before Dagster loads the definitions; the run
context asset, for runs launched from the Dagster UI), and the worker imports GX on the other
core meanwhile. The gate hands each sample to `submit`, which sends it to the worker and
returns at once; `Pending.result()` waits for `suites.validate_batch`'s `BatchValidation`:
the same call, the same result, in another process, while the run process goes on with its
own work (the gate's key check, the inserts of the load transaction).

The worker is a plain `python -m soe_pipeline.quality.worker` child talking over two pipes
(`multiprocessing.connection` pickling), not a multiprocessing pool, which would re-import
the parent's main module (Dagster's or pytest's command line). It exits when the parent's end
of the pipe closes, so a killed run leaves no worker behind. One worker per process, one
request at a time (a new request first collects the answer to the previous one, if nobody
did); a worker that died is replaced, and the request sent again, once.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Mapping

    import pandas as pd

    from soe_pipeline.contracts import Contract
    from soe_pipeline.quality.suites import BatchValidation

MODULE = "soe_pipeline.quality.worker"


class WorkerError(RuntimeError):
    """The worker could not validate: it failed to start, died twice, or raised (its traceback)."""


class _Worker:
    def __init__(self) -> None:
        request_read, request_write = os.pipe()
        result_read, result_write = os.pipe()
        package_root = str(Path(__file__).resolve().parents[2])  # the code this process runs
        env = dict(os.environ)  # GX analytics: turned off by `suites._gx()` in the worker
        env["PYTHONPATH"] = os.pathsep.join(p for p in [package_root, env.get("PYTHONPATH")] if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", MODULE, str(request_read), str(result_write)],
            pass_fds=(request_read, result_write),
            stdin=subprocess.DEVNULL,
            env=env,
        )
        os.close(request_read)
        os.close(result_write)
        self.pid = os.getpid()  # a forked child must not share this worker
        self.requests = Connection(request_write, readable=False)
        self.results = Connection(result_read, writable=False)
        self.ready = False

    def usable(self) -> bool:
        return self.pid == os.getpid() and self.process.poll() is None

    def wait_ready(self) -> None:
        if self.ready:
            return
        started = time.perf_counter()
        kind, payload = self.results.recv()
        _stats["waited_s"] += time.perf_counter() - started
        if kind != "ready":
            raise WorkerError(f"the Great Expectations worker did not start:\n{payload}")
        _stats["import_s"] = payload
        self.ready = True

    def send(self, request: tuple) -> None:
        self.wait_ready()
        self.requests.send(request)

    def receive(self) -> tuple[str, Any]:
        kind, payload, seconds = self.results.recv()
        _stats["validate_s"] += seconds
        return kind, payload

    def close(self) -> None:
        self.requests.close()  # the worker sees end of input and exits
        self.results.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_lock = threading.RLock()
_worker: _Worker | None = None
# For the benchmark: the worker's GX import, how long validations waited for it to finish,
# and the seconds the worker spent validating.
_stats: dict[str, float] = {"import_s": 0.0, "waited_s": 0.0, "validate_s": 0.0}


class Pending:
    """A validation sent to the worker; `result()` waits for its `BatchValidation`."""

    def __init__(self, request: tuple) -> None:
        self._request = request
        self._sent_to: _Worker | None = None
        self._answer: tuple[str, Any] | None = None
        try:
            self._send()
        except (EOFError, OSError):
            pass  # the worker died: `result()` sends the request to its replacement

    def _send(self) -> None:
        global _outstanding
        if _outstanding is not None and _outstanding is not self:
            _outstanding._receive()  # an answer nobody asked for: keep the pipe in step
        self._sent_to = _running()
        _outstanding = self
        self._sent_to.send(self._request)

    def _receive(self) -> None:
        global _outstanding
        failures = []
        while len(failures) < 2:
            try:
                if _outstanding is not self:  # not sent, or sent to a worker since replaced
                    self._send()
                self._answer = self._sent_to.receive()
                _outstanding = None
                return
            except (EOFError, OSError) as error:
                # The worker died (killed, out of memory): a new one, and the request again.
                worker, _outstanding = self._sent_to, None
                code = worker.process.poll() if worker is not None else None
                failures.append(f"exit code {code}: {error!r}")
                if worker is not None:
                    worker.close()
        raise WorkerError(
            "the Great Expectations worker process died twice on this request: "
            + "; ".join(failures)
        )

    def result(self) -> BatchValidation:
        with _lock:
            if self._answer is None:
                self._receive()
        kind, payload = self._answer
        if kind == "error":
            raise WorkerError(f"Great Expectations failed in its worker process:\n{payload}")
        return payload


_outstanding: Pending | None = None


def _running() -> _Worker:
    global _worker, _outstanding
    if _worker is None or not _worker.usable():
        if _worker is not None and _worker.pid == os.getpid():
            _worker.close()
        _worker, _outstanding = _Worker(), None
    return _worker


def start() -> None:
    """Start the worker (it imports Great Expectations) unless it is running already."""
    with _lock:
        _running()


def stats() -> dict[str, float]:
    return dict(_stats)


def submit(
    frame: pd.DataFrame,
    contract: Contract,
    *,
    as_of: dt.date,
    known_values: Mapping[str, Iterable[str]] | None = None,
) -> Pending:
    """Send `suites.validate_batch(frame, contract, ...)` to the worker (started now if it is
    not running); returns at once."""
    with _lock:
        return Pending((frame, contract, as_of, known_values))


def validate_batch(
    frame: pd.DataFrame,
    contract: Contract,
    *,
    as_of: dt.date,
    known_values: Mapping[str, Iterable[str]] | None = None,
) -> BatchValidation:
    """`suites.validate_batch` run in the worker, waited for."""
    return submit(frame, contract, as_of=as_of, known_values=known_values).result()


@atexit.register
def _stop() -> None:
    global _worker
    if _worker is not None and _worker.pid == os.getpid():
        _worker.close()
        _worker = None


def _serve(requests: Connection, results: Connection) -> int:
    started = time.perf_counter()
    try:
        from soe_pipeline.quality import suites

        suites._gx()
    except BaseException:
        results.send(("error", traceback.format_exc()))
        return 1
    results.send(("ready", round(time.perf_counter() - started, 3)))
    while True:
        try:
            frame, contract, as_of, known_values = requests.recv()
        except EOFError:  # the parent closed its end, or died
            return 0
        begun = time.perf_counter()
        try:
            result = suites.validate_batch(frame, contract, as_of=as_of, known_values=known_values)
        except Exception:
            results.send(("error", traceback.format_exc(), time.perf_counter() - begun))
        else:
            results.send(("ok", result, time.perf_counter() - begun))


if __name__ == "__main__":
    request_fd, result_fd = (int(arg) for arg in sys.argv[1:3])
    sys.exit(
        _serve(Connection(request_fd, writable=False), Connection(result_fd, readable=False))
    )
