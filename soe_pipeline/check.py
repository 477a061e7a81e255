"""`soe check`: every problem a run would meet in a landing folder, found in one pass.

No Dagster, no warehouse: each extract's files are read into an in-memory DuckDB with the
same code a run uses (`landing.load_extract`: file names, headers, the deployment config's
dialect and renames, row rules against the masters, key uniqueness), then judged with the
same freshness rules for the as_of. Nothing is written anywhere. Great Expectations, the
run's second opinion on rows that already passed these rules, is left to the run.

A user onboarding a source fixes everything in one go: every extract is checked even when
an earlier one fails, and every file's name and header is checked before the rows are.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from soe_pipeline.contracts import Contract, load_contracts
from soe_pipeline.deployment import Deployment
from soe_pipeline.landing import (
    LandingError,
    check_header,
    ensure_raw_tables,
    load_extract,
    parse_file_name,
    referenced_masters,
)
from soe_pipeline.quality.gate import check_unique_keys
from soe_pipeline.warehouse import judge_freshness


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" blocks a run, "warn" does not
    extract: str  # "<system>/<extract>"
    rule: str
    file: str  # relative to the landing folder, or "" for the whole extract
    detail: str


def _masters_first(contracts: tuple[Contract, ...]) -> list[Contract]:
    """Masters load first: the other extracts' rows are checked against them."""
    masters = {m.name for c in contracts for m in referenced_masters(c)}
    return sorted(contracts, key=lambda c: c.name not in masters)


def _relative(path: str, landing: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(landing))
    except ValueError:
        return path


def _file_problems(
    con: duckdb.DuckDBPyConnection, contract: Contract, landing: Path, deployment: Deployment
) -> tuple[list[Path], list[Problem]]:
    """The extract's files whose name and header pass, and a problem for each that does not."""
    label = f"{contract.system}/{contract.extract}"
    folder = landing / contract.system / contract.extract
    if not folder.is_dir():
        return [], []
    good, problems = [], []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith((".", "_")):
            continue
        try:
            check_header(parse_file_name(path, contract), contract, con, deployment.for_extract(contract))
            good.append(path)
        except LandingError as error:
            problems.append(Problem("error", label, error.rule, _relative(error.file, landing), error.detail))
    return good, problems


def _load(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    files: list[Path],
    farm: Path,
    deployment: Deployment,
) -> list[Problem]:
    """Load the extract from `farm` (links to its good files), leaving out each file that
    fails and trying again, so one bad file hides neither the others' problems nor, for a
    master, the rows other extracts are checked against."""
    label = f"{contract.system}/{contract.extract}"
    problems = []
    folder = farm / contract.system / contract.extract
    while True:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for path in files:
            (folder / path.name).symlink_to(path)
        try:
            report = load_extract(
                con, contract, farm, settings=deployment.for_extract(contract),
                validate=lambda con, relation: check_unique_keys(con, contract, relation),
            )
        except LandingError as error:
            culprit = Path(error.file).name
            problems.append(Problem("error", label, error.rule,
                                    _relative(error.file, farm), error.detail))
            remaining = [path for path in files if path.name != culprit]
            if len(remaining) == len(files):
                return problems
            files = remaining
            continue
        problems += [Problem("warn", label, "extra columns", "", w) for w in report.warnings
                     if "extra columns" in w]
        problems += [Problem("warn", label, "duplicate file", name, f"same content as {original}")
                     for name, original in report.files_skipped]
        if report.rows_rejected:
            problems.append(Problem(
                "warn", label, "row rules", "",
                f"{report.rows_rejected} of {report.rows_read} rows rejected, e.g. {report.reject_example}"))
        return problems


def check_landing(landing: Path, as_of: dt.date, deployment: Deployment) -> list[Problem]:
    """Every problem found in `landing` for a run as of `as_of`, all extracts at once."""
    landing = Path(landing).resolve()
    problems: list[Problem] = []
    with duckdb.connect() as con, tempfile.TemporaryDirectory(prefix="soe-check-") as farm:
        for contract in _masters_first(load_contracts()):
            label = f"{contract.system}/{contract.extract}"
            ensure_raw_tables(con, contract)
            files, file_problems = _file_problems(con, contract, landing, deployment)
            load_problems = _load(con, contract, files, Path(farm), deployment)
            problems += file_problems + load_problems
            if any(p.severity == "error" for p in file_problems + load_problems):
                continue  # its freshness would only repeat the failure
            freshness = judge_freshness(con, contract, as_of, deployment.freshness_overrides()).result
            if freshness.status != "ok":
                problems.append(Problem(freshness.status, label, "freshness", "",
                                        freshness.message.removeprefix(f"{label}: ")))
    return problems


def format_problems(problems: list[Problem]) -> str:
    """One table: severity, extract, rule, file, detail (one line each)."""
    if not problems:
        return "No problems found."
    rows = [("severity", "extract", "rule", "file", "detail")]
    rows += [(p.severity, p.extract, p.rule, p.file or "-", " ".join(p.detail.split())) for p in problems]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
             for row in rows]
    return "\n".join(lines)
