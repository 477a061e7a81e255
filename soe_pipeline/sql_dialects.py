"""What makes SQL DuckDB-only: the check behind "no DuckDB-only construct in a model outside
a dispatched macro" (issue 28; tests/test_engine_neutral_sql.py).

The models compiled for Spark must not contain DuckDB's own syntax. sqlglot's Spark parser
is lenient (it reads `* exclude`, `qualify`, `arg_max` and `::` and would write them out in
Spark's spelling), so parsing alone proves little: `duckdb_only_constructs` also walks the
tokens for the constructs Spark SQL does not have (or, like QUALIFY, only since Spark 4.2).
"""

from __future__ import annotations

import sqlglot
from sqlglot.tokens import TokenType

# DuckDB functions with no Spark SQL function of that name (or a different one: Spark's
# format_string, max_by, xxhash64, explode ...).
DUCKDB_ONLY_FUNCTIONS = frozenset(
    {
        "arg_max",
        "arg_min",
        "columns",
        "date_diff",
        "epoch",
        "epoch_ms",
        "format",
        "hash",
        "isodow",
        "list",
        "list_aggregate",
        "list_value",
        "make_date",
        "regexp_matches",
        "strftime",
        "strptime",
        "string_agg",
        "struct_pack",
        "unnest",
    }
)
# Keywords of DuckDB-only clauses: `* exclude (...)`, `qualify`, `with x as materialized`,
# bare `anti join` / `semi join` (Spark spells them `left anti` / `left semi`), `union by name`.
DUCKDB_ONLY_KEYWORDS = frozenset({"EXCLUDE", "QUALIFY", "MATERIALIZED"})


def duckdb_only_constructs(sql: str, dialect: str = "spark") -> list[str]:
    """The DuckDB-only constructs in `sql`, one line each with its line number; a parse
    error of `sql` in `dialect` is one too."""
    try:
        sqlglot.parse(sql, read=dialect)
        tokens = sqlglot.tokenize(sql, read=dialect)
    except sqlglot.errors.SqlglotError as error:
        return [f"does not parse as {dialect}: {' '.join(str(error).split())[:300]}"]
    found = []
    for index, token in enumerate(tokens):
        text = token.text.upper()
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        previous = tokens[index - 1] if index > 0 else None
        if text in DUCKDB_ONLY_KEYWORDS:
            found.append(f"line {token.line}: {text}")
        elif token.token_type == TokenType.DCOLON:
            found.append(f"line {token.line}: :: cast")
        elif text in ("ANTI", "SEMI") and (previous is None or previous.text.upper() != "LEFT"):
            found.append(f"line {token.line}: {text} JOIN without LEFT")
        elif text == "BY" and following is not None and following.text.upper() == "NAME":
            found.append(f"line {token.line}: UNION BY NAME")
        elif (
            following is not None
            and following.token_type == TokenType.L_PAREN
            and token.text.lower() in DUCKDB_ONLY_FUNCTIONS
        ):
            found.append(f"line {token.line}: {token.text.lower()}()")
    return found
