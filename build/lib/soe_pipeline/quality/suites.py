"""Great Expectations suites derived from the extract contracts, and batch validation.

The contracts (`assets/contracts/`) are the single source of truth: `build_suite` turns one
into a GX 1.x `ExpectationSuite` named `<system>__<extract>`, with no column list of its own.
Rules that depend on the run (the as-of date, the masters' known codes) come from
`runtime_expectations`. `validate_batch` runs both on a pandas DataFrame (GX 1.24 cannot
validate DuckDB through SQLAlchemy, so raw tables are read with `.df()`) and reports each
failing expectation as a rule: the contract rule name, the column, how many rows, examples.

Every expectation carries `meta = {"rule": ..., "column": ...}`. Rules:

- `columns_present`: every contract column is in the frame (extra columns are allowed).
- `type`: the pandas dtype a DuckDB column of the contract type gives (see `PANDAS_TYPES`).
- `not_null`: non-nullable columns (key columns are never null).
- `key_unique`: the key identifies one row.
- `allowed`: the value is one of the contract's accepted values.
- `min`: inclusive lower bound.
- `not_after_as_of` (run time): dates on or before the as-of date; timestamps before its end.
- `references` (run time): codes known to the referenced master, e.g. `items.sku`.

The committed file context in `great_expectations/` holds the generated suites, for Data
Docs and review; `python -m soe_pipeline.quality.suites write` regenerates them and `docs`
builds Data Docs into `great_expectations/uncommitted/data_docs/`.

Great Expectations takes seconds to import, so it is imported inside functions only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soe_pipeline.contracts import ASSETS_DIR, CONTRACTS_DIR, Column, Contract, load_contracts

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core import ExpectationSuite
    from great_expectations.expectations.expectation import Expectation

GX_DIR = ASSETS_DIR.parent / "great_expectations"
EXPECTATIONS_DIR = GX_DIR / "expectations"

# Contract type -> the pandas dtypes `duckdb ... .df()` gives for it (DuckDB 2.0, pandas 3):
# BIGINT is int64, or Int64 when the result holds a null; BOOLEAN likewise bool / boolean;
# DATE and TIMESTAMP are both datetime64[us] (ns accepted for frames built by pandas).
# VARCHAR is pandas 3's `str` dtype, or object when the result is empty or all null. GX 1.24
# has no type name that matches the `str` dtype, so `validate_batch` hands string-dtype
# columns to GX as object and "str" is checked value by value.
PANDAS_TYPES: dict[str, list[str]] = {
    "string": ["str"],
    "integer": ["int64", "Int64Dtype"],
    "decimal": ["float64"],
    "date": ["datetime64[us]", "datetime64[ns]"],
    "timestamp": ["datetime64[us]", "datetime64[ns]"],
    "boolean": ["bool", "BooleanDtype"],
}

MAX_EXAMPLES = 5
# GX keeps this many unexpected values per expectation; duplicates of one key come in pairs.
_PARTIAL_UNEXPECTED_COUNT = 20


def _gx():
    """Import Great Expectations with usage analytics off (there is no network)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def _meta(rule: str, column: str) -> dict[str, str]:
    return {"rule": rule, "column": column}


def _key_label(contract: Contract) -> str:
    return ", ".join(contract.key)


def contract_expectations(contract: Contract) -> list[Expectation]:
    """The expectations fixed by the contract alone, in a stable order (new objects each call)."""
    gxe = _gx().expectations
    expectations: list[Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(contract.column_names),
            exact_match=False,
            meta=_meta("columns_present", ", ".join(contract.column_names)),
        )
    ]
    for column in contract.columns:
        name = column.name
        expectations.append(
            gxe.ExpectColumnValuesToBeInTypeList(
                column=name, type_list=PANDAS_TYPES[column.type], meta=_meta("type", name)
            )
        )
        if not column.nullable:
            expectations.append(
                gxe.ExpectColumnValuesToNotBeNull(column=name, meta=_meta("not_null", name))
            )
        if column.allowed:
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=name, value_set=list(column.allowed), meta=_meta("allowed", name)
                )
            )
        if column.min is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=name, min_value=column.min, meta=_meta("min", name)
                )
            )
    key_meta = _meta("key_unique", _key_label(contract))
    if len(contract.key) == 1:
        expectations.append(gxe.ExpectColumnValuesToBeUnique(column=contract.key[0], meta=key_meta))
    else:
        expectations.append(
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(contract.key), meta=key_meta)
        )
    return expectations


def build_suite(contract: Contract) -> ExpectationSuite:
    """The contract's run-independent rules as a GX suite named `<system>__<extract>`."""
    gx = _gx()
    return gx.ExpectationSuite(
        name=contract.name,
        expectations=contract_expectations(contract),
        meta={"contract": str(_contract_path(contract).relative_to(ASSETS_DIR.parent))},
        notes=(
            f"Generated from the {contract.system}/{contract.extract} contract by "
            "`python -m soe_pipeline.quality.suites write`; edit the contract, not this file."
        ),
    )


def _contract_path(contract: Contract) -> Path:
    return CONTRACTS_DIR / contract.system / f"{contract.extract}.yml"


def runtime_expectations(
    contract: Contract,
    *,
    as_of: dt.date,
    known_values: Mapping[str, Iterable[str]] | None = None,
) -> list[Expectation]:
    """Rules that depend on the run: dates not after `as_of`, codes known to their master.

    `known_values` maps a reference such as "items.sku" to the master's codes. A reference
    whose master is absent from it is not checked (see `skipped_references`).
    """
    gxe = _gx().expectations
    expectations: list[Expectation] = []
    for column in contract.columns:
        name = column.name
        if column.not_after_as_of:
            # Dates are compared at midnight of as_of (inclusive); timestamps must fall before
            # the end of the as_of day.
            as_of_midnight = dt.datetime.combine(as_of, dt.time())
            if column.type == "timestamp":
                bound = {"max_value": as_of_midnight + dt.timedelta(days=1), "strict_max": True}
            else:
                bound = {"max_value": as_of_midnight}
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=name, **bound, meta=_meta("not_after_as_of", name)
                )
            )
        if column.references and known_values is not None and column.references in known_values:
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=name,
                    value_set=sorted(known_values[column.references]),
                    meta=_meta("references", name),
                )
            )
    return expectations


def skipped_references(
    contract: Contract, known_values: Mapping[str, Iterable[str]] | None
) -> list[str]:
    """`column -> master` references that cannot be checked because the master is unknown."""
    known = known_values or {}
    return [
        f"{c.name} -> {c.references}"
        for c in contract.columns
        if c.references and c.references not in known
    ]


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class RuleFailure:
    """One broken rule: which, where, how many rows, and a few examples (as strings)."""

    rule: str
    column: str  # the column, or the key columns joined by ", "
    unexpected_count: int
    unexpected_percent: float  # as GX counts it: of the non-null values, except for not_null
    examples: list[str]
    expectation_type: str
    error: str | None = None  # set when GX could not evaluate the expectation at all

    @property
    def label(self) -> str:
        return f"{self.rule}({self.column})" if self.column else self.rule

    def describe(self) -> str:
        examples = f", e.g. {' | '.join(self.examples)}" if self.examples else ""
        if self.error:
            return f"{self.label}: could not be evaluated: {self.error}"
        rows = "row" if self.unexpected_count == 1 else "rows"
        share = f"{self.unexpected_count} {rows} ({self.unexpected_percent:.2f}%)"
        return f"{self.label}: {share}{examples}"


@dataclass
class BatchValidation:
    """The result of validating one extract's rows against its contract."""

    suite: str
    success: bool
    evaluated: int  # rows validated
    expectations: int  # expectations evaluated
    failures: list[RuleFailure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # rules not checked, and why

    def summary(self) -> str:
        if self.success:
            return f"{self.suite}: {self.evaluated} rows pass {self.expectations} expectations"
        return f"{self.suite}: " + "; ".join(f.describe() for f in self.failures)


def _for_gx(df: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The frame as GX 1.24 checks it fastest, with every rule's verdict unchanged.

    - pandas 3 string columns as object, so GX can check their values' types.
    - Date and timestamp columns of microseconds as nanoseconds when every value fits:
      GX compares only nanosecond datetimes vectorised (`column_values.between`), others
      one Python call per row. Both units pass the `type` rule, so its verdict is the same.
    """
    import pandas as pd

    both_units = {"datetime64[us]", "datetime64[ns]"}
    as_nanoseconds = {c.name for c in contract.columns if both_units <= set(PANDAS_TYPES[c.type])}
    conversions: dict[str, Any] = {}
    for column, dtype in df.dtypes.items():
        if isinstance(dtype, pd.StringDtype):
            conversions[column] = object
        elif column in as_nanoseconds and str(dtype) == "datetime64[us]":
            values = df[column]
            lowest, highest = values.min(), values.max()
            if pd.isna(lowest) or (pd.Timestamp.min <= lowest and highest <= pd.Timestamp.max):
                conversions[column] = "datetime64[ns]"
    return df.astype(conversions) if conversions else df


def _known_and_present(
    df: pd.DataFrame, contract: Contract, known_values: Mapping[str, Iterable[str]] | None
) -> dict[str, set[str]] | None:
    """The masters' codes narrowed to those the frame uses: the same verdict, smaller sets.

    GX copies an expectation's kwargs many times per validation, so a 20,000-SKU value set
    costs seconds; the codes present in the frame are usually far fewer.
    """
    if known_values is None:
        return None
    present: dict[str, set[Any]] = {}
    for column in contract.columns:
        if column.references in known_values and column.name in df.columns:
            present.setdefault(column.references, set()).update(df[column.name].dropna().unique())
    return {ref: set(known_values[ref]) & values for ref, values in present.items()}


def _as_codes_outside(expectation: Expectation, frame: pd.DataFrame) -> Expectation:
    """A `references` rule restated for one frame: its codes outside the set are not expected.

    On a given frame, `expect_column_values_to_be_in_set(S)` and
    `expect_column_values_to_not_be_in_set(the column's distinct values not in S)` find the
    same rows unexpected (nulls are outside both). GX copies an expectation's configuration
    dozens of times while planning its metrics, so the first costs about 0.4 s per 4,000
    codes of the frame; the second's set is empty when every code is known.
    """
    gxe = _gx().expectations
    value_set = set(expectation.value_set)
    values = frame[expectation.column].dropna().unique()
    outside = {value for value in values if value not in value_set}
    return gxe.ExpectColumnValuesToNotBeInSet(
        column=expectation.column, value_set=sorted(outside, key=str), meta=expectation.meta
    )


def _signature(expectation_type: str, kwargs: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in kwargs.items() if k != "batch_id"}
    return f"{expectation_type}:{json.dumps(kept, sort_keys=True, default=str)}"


def _format_value(value: Any, column: Column | None) -> str:
    """An example value as a plain string, formatted for its contract type."""
    import pandas as pd

    if pd.api.types.is_scalar(value) and pd.isna(value):
        return "null"
    if isinstance(value, dt.datetime | pd.Timestamp):
        if column is not None and column.type == "date":
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if column is not None and column.type == "string" and not isinstance(value, str):
        return f"{value!r} ({type(value).__name__})"
    return str(value)


def _examples(values: Iterable[Any], contract: Contract, column: str) -> list[str]:
    columns = {c.name: c for c in contract.columns}
    examples: list[str] = []
    for value in values:
        if isinstance(value, Mapping):  # a compound key: {column: value}
            text = ", ".join(f"{k}={_format_value(v, columns.get(k))}" for k, v in value.items())
        else:
            text = _format_value(value, columns.get(column))
        if text not in examples:
            examples.append(text)
        if len(examples) == MAX_EXAMPLES:
            break
    return examples


def _exception_message(exception_info: Mapping[str, Any] | None) -> str | None:
    """GX reports an expectation it could not evaluate either flat or keyed by metric id."""
    if not exception_info:
        return None
    infos = [exception_info] if "raised_exception" in exception_info else exception_info.values()
    for info in infos:
        if isinstance(info, Mapping) and info.get("exception_message"):
            return str(info["exception_message"]).strip().splitlines()[0]
        if isinstance(info, Mapping) and info.get("raised_exception"):
            return "raised an exception"
    return None


def _rule_failure(
    outcome: Any, meta: Mapping[str, str], contract: Contract, *, rows: int, missing: list[str]
) -> RuleFailure | None:
    """One failed GX result as a contract rule; None when `columns_present` already says it."""
    config = outcome.expectation_config
    rule = meta.get("rule", config.type)
    column = meta.get("column", "")
    every_row = {"unexpected_count": rows, "unexpected_percent": 100.0 if rows else 0.0}
    if rule == "columns_present":
        return RuleFailure(
            rule=rule,
            column=", ".join(missing),
            examples=[f"missing {c}" for c in missing[:MAX_EXAMPLES]],
            expectation_type=config.type,
            **every_row,
        )
    domain = config.kwargs.get("column_list") or [config.kwargs.get("column")]
    if any(c in missing for c in domain):
        return None
    details = outcome.result or {}
    if "unexpected_count" in details:
        counts = {
            "unexpected_count": int(details["unexpected_count"]),
            "unexpected_percent": round(float(details.get("unexpected_percent") or 0.0), 4),
        }
        examples = _examples(details.get("partial_unexpected_list") or [], contract, column)
    else:
        # A column-level failure (the whole column has the wrong dtype) concerns every row.
        counts = every_row
        observed = details.get("observed_value")
        examples = [f"dtype {observed}"] if observed is not None else []
    return RuleFailure(
        rule=rule,
        column=column,
        examples=examples,
        expectation_type=config.type,
        error=_exception_message(outcome.exception_info),
        **counts,
    )


def validate_batch(
    df: pd.DataFrame,
    contract: Contract,
    *,
    as_of: dt.date,
    known_values: Mapping[str, Iterable[str]] | None = None,
) -> BatchValidation:
    """Validate a DataFrame (typed as DuckDB's `.df()` gives it) against the contract's rules.

    Runs the contract suite plus the run-time rules in an ephemeral GX context. When contract
    columns are missing, `columns_present` fails and the rules on those columns are not
    reported separately. An empty frame passes every row-level rule (evaluated = 0).
    """
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    expectations = contract_expectations(contract) + runtime_expectations(
        contract, as_of=as_of, known_values=_known_and_present(df, contract, known_values)
    )
    frame = _for_gx(df, contract)
    # Most batches pass: a first pass only decides whether every rule holds, as cheaply as
    # GX allows. GX plans each metric of an expectation from a fresh copy of its
    # configuration (6 ms for a `references` set of 4,000 codes) and the detailed SUMMARY
    # format needs more metrics (114 copies per set expectation, BOOLEAN_ONLY 66); so the
    # first pass asks for verdicts only, with each `references` rule in its equivalent form
    # for this frame. Only a batch that fails is validated again with the suite as built
    # above and SUMMARY, for the counts and examples its failures report.
    verdicts = [
        _as_codes_outside(e, frame)
        if (e.meta or {}).get("rule") == "references" and e.column in frame.columns
        else e
        for e in expectations
    ]
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    batch = (
        context.data_sources.add_pandas("extract")
        .add_dataframe_asset(contract.name)
        .add_batch_definition_whole_dataframe("whole_frame")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(
        gx.ExpectationSuite(name=contract.name, expectations=verdicts),
        result_format={"result_format": "BOOLEAN_ONLY"},
    )
    if not result.success:
        result = batch.validate(
            gx.ExpectationSuite(name=contract.name, expectations=expectations),
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": _PARTIAL_UNEXPECTED_COUNT,
            },
        )

    rows = len(df)
    missing = [c for c in contract.column_names if c not in df.columns]
    failures: list[tuple[int, RuleFailure]] = []
    # GX drops `meta` from expectations it could not evaluate, and reorders results: each
    # result is matched back to its expectation (suite order, meta) by type and kwargs.
    by_signature = (
        {}
        if result.success
        else {
            _signature(e.expectation_type, e.configuration.kwargs): (position, e.meta or {})
            for position, e in enumerate(expectations)
        }
    )
    for outcome in result.results:
        if outcome.success:
            continue
        config = outcome.expectation_config
        position, meta = by_signature.get(
            _signature(config.type, config.kwargs), (len(expectations), config.meta or {})
        )
        failure = _rule_failure(outcome, meta, contract, rows=rows, missing=missing)
        if failure is not None:
            failures.append((position, failure))
    return BatchValidation(
        suite=contract.name,
        success=not failures,
        evaluated=rows,
        expectations=len(result.results),
        failures=[failure for _, failure in sorted(failures, key=lambda pair: pair[0])],
        skipped=[
            f"references {s}: master not loaded" for s in skipped_references(contract, known_values)
        ],
    )


def to_metadata(validation: BatchValidation) -> dict[str, str | int | float | bool]:
    """Flat, JSON-serializable metadata for a Dagster asset check."""
    metadata: dict[str, str | int | float | bool] = {
        "suite": validation.suite,
        "success": validation.success,
        "rows": validation.evaluated,
        "expectations_evaluated": validation.expectations,
        "rules_failed": len(validation.failures),
        "failed_rules": ", ".join(f.label for f in validation.failures),
    }
    for failure in validation.failures:
        metadata[f"{failure.label} unexpected_count"] = failure.unexpected_count
        metadata[f"{failure.label} unexpected_percent"] = failure.unexpected_percent
        metadata[f"{failure.label} examples"] = " | ".join(failure.examples)
        if failure.error:
            metadata[f"{failure.label} error"] = failure.error
    if validation.skipped:
        metadata["skipped"] = "; ".join(validation.skipped)
    return metadata


# --------------------------------------------------------------------------- file context


def _comparable(expectations: Iterable[Mapping[str, Any]]) -> list[str]:
    """Expectations as sorted JSON of type, kwargs and meta (ids and GX defaults ignored)."""
    return sorted(
        json.dumps(
            {"type": e["type"], "kwargs": e["kwargs"], "meta": e.get("meta") or {}},
            sort_keys=True,
            default=str,
        )
        for e in expectations
    )


def _built_comparable(contract: Contract) -> list[str]:
    return _comparable(
        json.loads(json.dumps(build_suite(contract).to_json_dict(), default=str))["expectations"]
    )


def out_of_sync_suites(gx_dir: Path = GX_DIR) -> list[str]:
    """Suite files in `great_expectations/expectations/` that differ from the contracts."""
    expectations_dir = Path(gx_dir) / "expectations"
    problems = []
    contracts = load_contracts()
    for contract in contracts:
        path = expectations_dir / f"{contract.name}.json"
        if not path.is_file():
            problems.append(f"{contract.name}: no suite file {path.name}")
            continue
        stored = json.loads(path.read_text())
        if _comparable(stored["expectations"]) != _built_comparable(contract):
            problems.append(f"{contract.name}: stored suite differs from the contract")
    names = {c.name for c in contracts}
    problems += [
        f"{p.stem}: suite file without a contract"
        for p in sorted(expectations_dir.glob("*.json"))
        if p.stem not in names
    ]
    return problems


def file_context(gx_dir: Path = GX_DIR):
    """The repository's GX file context, with analytics and progress bars off."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # `project_root_dir` would scaffold `<root>/gx/`; the repository keeps `great_expectations/`.
    context = gx.get_context(mode="file", context_root_dir=str(gx_dir))
    context.variables.analytics_enabled = False
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.variables.save()
    return context


def write_suites(gx_dir: Path = GX_DIR) -> dict[str, str]:
    """(Re)write every contract's suite into the file context; returns name -> what happened.

    A suite already in sync is left untouched, so its ids (and the git tree) do not churn.
    Suite files whose contract no longer exists are deleted.
    """
    context = file_context(gx_dir)
    expectations_dir = Path(gx_dir) / "expectations"
    outcome: dict[str, str] = {}
    contracts = load_contracts()
    for contract in contracts:
        path = expectations_dir / f"{contract.name}.json"
        if path.is_file() and _comparable(
            json.loads(path.read_text())["expectations"]
        ) == _built_comparable(contract):
            outcome[contract.name] = "unchanged"
            continue
        outcome[contract.name] = "updated" if path.is_file() else "created"
        context.suites.add_or_update(build_suite(contract))
    names = {c.name for c in contracts}
    for path in sorted(expectations_dir.glob("*.json")):
        if path.stem not in names:
            context.suites.delete(path.stem)
            outcome[path.stem] = "deleted"
    return outcome


def build_docs(gx_dir: Path = GX_DIR) -> str:
    """Build Data Docs for the stored suites under `uncommitted/data_docs/`; returns the index URL."""
    context = file_context(gx_dir)
    sites = context.build_data_docs()
    return next(iter(sites.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m soe_pipeline.quality.suites",
        description="Great Expectations suites generated from the extract contracts.",
    )
    parser.add_argument("command", choices=["write", "docs", "check"])
    parser.add_argument("--gx-dir", type=Path, default=GX_DIR)
    args = parser.parse_args(argv)
    if args.command == "write":
        for name, what in write_suites(args.gx_dir).items():
            print(f"{name}: {what}")
    elif args.command == "docs":
        print(build_docs(args.gx_dir))
    else:
        problems = out_of_sync_suites(args.gx_dir)
        for problem in problems:
            print(problem)
        if problems:
            return 1
        print("all suites in sync with the contracts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
