"""The Great Expectations worker process (`quality.worker`): the gate's validations run there.

Real GX on both sides: the worker's verdict must be the in-process one, a dead worker is
replaced, and a worker never outlives the process that started it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest
from test_quality import AS_OF, DAILY_SALES, KNOWN, daily_sales_rows, typed_frame

from soe_pipeline.quality import suites, worker


def _bad_daily_sales():
    rows = daily_sales_rows()
    rows[0] = rows[0] | {"location_id": "ST-9", "units_sold": None}  # unknown store, null units
    rows.append(dict(rows[1]))  # a duplicate key
    return typed_frame(DAILY_SALES, rows)


def _alive(pid: int) -> bool:
    """Running (an exited orphan may linger as a zombie until its new parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_worker_gives_the_in_process_verdict_rule_for_rule() -> None:
    frame = _bad_daily_sales()
    in_process = suites.validate_batch(frame, DAILY_SALES, as_of=AS_OF, known_values=KNOWN)
    in_worker = worker.validate_batch(frame, DAILY_SALES, as_of=AS_OF, known_values=KNOWN)
    assert not in_worker.success
    assert {f.label for f in in_worker.failures} >= {
        "references(location_id)", "not_null(units_sold)", "key_unique(business_date, location_id, sku)"
    }
    assert in_worker == in_process
    clean = typed_frame(DAILY_SALES, daily_sales_rows())
    assert worker.validate_batch(clean, DAILY_SALES, as_of=AS_OF, known_values=KNOWN).success
    assert worker.stats()["import_s"] > 0


def test_a_killed_worker_is_replaced_on_the_next_validation() -> None:
    frame = typed_frame(DAILY_SALES, daily_sales_rows())
    worker.start()
    first = worker._worker.process
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert worker.validate_batch(frame, DAILY_SALES, as_of=AS_OF, known_values=KNOWN).success
    assert worker._worker.process.pid != first.pid


def test_an_error_in_the_worker_names_its_cause() -> None:
    frame = typed_frame(DAILY_SALES, daily_sales_rows())
    with pytest.raises(worker.WorkerError, match="Traceback"):
        worker.validate_batch(frame, DAILY_SALES, as_of="not a date", known_values=KNOWN)
    # the worker survives its request's error
    assert worker.validate_batch(frame, DAILY_SALES, as_of=AS_OF, known_values=KNOWN).success


def test_the_worker_exits_with_the_process_that_started_it() -> None:
    parent = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            import os
            from soe_pipeline.quality import worker
            worker.start()
            print(worker._worker.process.pid, flush=True)
            os.kill(os.getpid(), 9)  # as a killed run: no atexit, no cleanup
        """)],
        capture_output=True, text=True, timeout=60,
    )
    assert parent.returncode == -signal.SIGKILL
    pid = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 30  # it may still be importing GX when its input closes
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), f"worker {pid} outlived its parent"


def test_an_answer_nobody_waited_for_does_not_shift_the_next_ones() -> None:
    # The gate sends its sample, then its key check may refuse the batch: the sample's
    # answer is never asked for. The next request must get its own answer, not that one.
    abandoned = worker.submit(_bad_daily_sales(), DAILY_SALES, as_of=AS_OF, known_values=KNOWN)
    clean = typed_frame(DAILY_SALES, daily_sales_rows())
    assert worker.validate_batch(clean, DAILY_SALES, as_of=AS_OF, known_values=KNOWN).success
    assert not abandoned.result().success  # kept when it was collected
