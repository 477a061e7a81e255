"""A compact progress logger for terminal runs (`soe run`, `soe demo`).

Dagster's console logger prints every debug event; this one prints one line per finished
step and passes on warnings, so a person can follow a run. Failed and skipped steps are
not printed one by one: when a run blocks, `soe run` prints one line per root cause and the
number of steps skipped.
"""

import logging
import sys
import time

import dagster as dg


class _ProgressHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self._started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        if event is None:
            message = getattr(record, "dagster_meta", {}).get("orig_message", record.getMessage())
            if message.startswith("Dependencies for step"):
                return  # a step skipped after a failure: counted in the run's summary line
            if record.levelno >= logging.WARNING:
                print(f"    ! {message}", file=sys.stderr, flush=True)
            return
        step = event.step_key or ""
        if event.event_type_value == "STEP_START":
            self._started[step] = time.monotonic()
        elif event.event_type_value == "STEP_SUCCESS":
            elapsed = time.monotonic() - self._started.get(step, time.monotonic())
            print(f"  ok  {step:<34} {elapsed:6.1f} s", file=sys.stderr, flush=True)


@dg.logger(description="One line per finished step, plus warnings and errors.")
def soe_progress(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("soe_progress", level=logging.DEBUG)
    logger.addHandler(_ProgressHandler())
    return logger


@dg.definitions
def loggers() -> dg.Definitions:
    return dg.Definitions(loggers={"soe_progress": soe_progress})
