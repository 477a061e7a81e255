"""Great Expectations in a process of its own, started before the first validation needs it.

Importing GX takes 4-6 s of one core: at medium, more than validating a steady week's
samples. A process about to run the weekly cycle calls `start()` first (`soe run`, `soe demo`,
the tests and the benchmark through `runner`, before Dagster loads the definitions; the run
context asset, for runs launched from the Dagster UI), and the worker imports GX on the other
core meanwhile. The gate hands each sample to `validate_batch`, which runs
`suites.validate_batch` in the worker and returns its `BatchValidation`: the same call, the
same result, in another process.

The worker is a plain `python -m soe_pipeline.quality.worker` child talking over two pipes
(`multiprocessing.connection` pickling), not a multiprocessing pool, which would re-import
the parent's main module (Dagster's or pytest's command line). It exits when the parent's end
of the pipe closes, so a killed run leaves no worker behind. One worker per process, one
request at a time; a worker that died is replaced once, on the next validation.
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
        env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
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

    def call(self, request: tuple) -> Any:
        self.wait_ready()
        self.requests.send(request)
        kind, payload = self.results.recv()
        if kind == "error":
            raise WorkerError(f"Great Expectations failed in its worker process:\n{payload}")
        return payload

    def close(self) -> None:
        self.requests.close()  # the worker sees end of input and exits
        self.results.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_lock = threading.Lock()
_worker: _Worker | None = None
# For the benchmark: the worker's GX import, and how long validations waited for it to finish.
_stats: dict[str, float] = {"import_s": 0.0, "waited_s": 0.0}


def _running() -> _Worker:
    global _worker
    if _worker is None or not _worker.usable():
        if _worker is not None and _worker.pid == os.getpid():
            _worker.close()
        _worker = _Worker()
    return _worker


def start() -> None:
    """Start the worker (it imports Great Expectations) unless it is running already."""
    with _lock:
        _running()


def stats() -> dict[str, float]:
    return dict(_stats)


def validate_batch(
    frame: pd.DataFrame,
    contract: Contract,
    *,
    as_of: dt.date,
    known_values: Mapping[str, Iterable[str]] | None = None,
) -> BatchValidation:
    """`suites.validate_batch` run in the worker (started now if it is not running)."""
    global _worker
    request = (frame, contract, as_of, known_values)
    with _lock:
        try:
            return _running().call(request)
        except (EOFError, OSError) as first:
            # The worker died (killed, out of memory): one new worker, one more try.
            code = _worker.process.poll() if _worker is not None else None
            if _worker is not None:
                _worker.close()
                _worker = None
            try:
                return _running().call(request)
            except (EOFError, OSError) as second:
                raise WorkerError(
                    f"the Great Expectations worker process exited (code {code}), and so did its "
                    f"replacement: {second!r}"
                ) from first


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
        try:
            result = suites.validate_batch(frame, contract, as_of=as_of, known_values=known_values)
        except Exception:
            results.send(("error", traceback.format_exc()))
        else:
            results.send(("ok", result))


if __name__ == "__main__":
    request_fd, result_fd = (int(arg) for arg in sys.argv[1:3])
    sys.exit(
        _serve(Connection(request_fd, writable=False), Connection(result_fd, readable=False))
    )
