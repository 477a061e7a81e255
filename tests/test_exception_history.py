"""Exception lifecycle and S&OP feedback across four weekly runs: a record mismatch fixed
between runs 2 and 3, a one-off mismatch in run 2 only, stockouts in every run."""

import shutil

from conftest import query
from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing, weekly_files


def test_history_tracks_first_last_seen_and_resolution_and_reruns_change_nothing(tmp_path, run_cycle):
    template = two_sku_landing(tmp_path / "template")
    landing = tmp_path / "landing"
    shutil.copytree(template, landing)
    history_sql = ("select exception_type, sku, first_seen_as_of, last_seen_as_of, resolved_as_of, "
                   "status, days_open from marts.exception_history order by all")
    mismatch_sql = ("select first_seen_as_of, last_seen_as_of, resolved_as_of, status, days_open "
                    "from marts.exception_history where exception_type = 'inventory_mismatch' and sku = 'B'")
    weeks = []
    for week in range(4):
        # Run 2 only: A's ERP book is off (a one-off mismatch).
        edits = {"inventory_book": ("A,DC1,120", "A,DC1,500")} if week == 1 else None
        as_of = weekly_files(template, landing, week, edits) if week else TWO_SKU_AS_OF
        weeks.append(as_of)
        outcome = run_cycle(landing, as_of)
        assert outcome.success, outcome.errors
        if week == 0:  # one cycle seen: nothing is recurring yet
            assert query(outcome.warehouse, "select count(*) from marts.sop_feedback "
                         "where feedback_type = 'recurring_exception'") == [(0,)]
        if week == 1:
            assert query(outcome.warehouse, mismatch_sql) == [(weeks[0], weeks[1], None, "new", 7)]
        if week == 2:
            after_run_3 = query(outcome.warehouse, history_sql)
            assert query(outcome.warehouse, mismatch_sql) == [(weeks[0], weeks[1], weeks[2], "resolved_by_itself", 14)]
            # Re-running week 3 leaves the history exactly as it was.
            assert run_cycle(landing, as_of).success
            assert query(outcome.warehouse, history_sql) == after_run_3

    history = query(outcome.warehouse, history_sql)
    assert query(outcome.warehouse, mismatch_sql) == [(weeks[0], weeks[1], weeks[2], "resolved_by_itself", 14)]
    stockouts = [row for row in history if row[0] == "projected_stockout"]
    assert {(r[1], r[2], r[3], r[5]) for r in stockouts} == {
        ("A", weeks[0], weeks[3], "new"), ("B", weeks[0], weeks[3], "new"),
    }
    # One row per exception: re-runs and four cycles never duplicate history.
    (count, distinct) = query(outcome.warehouse, "select count(*), count(distinct exception_id) "
                              "from marts.exception_history")[0]
    assert count == distinct

    # S&OP feedback after four cycles: the stockouts seen in every cycle come back with a
    # hint; A's PO lines were late in every cycle, so its hint is the supplier. Neither the
    # one-off mismatch at A nor B's mismatch (2 of 4 cycles) is fed back as recurring.
    feedback = query(outcome.warehouse, "select exception_type, sku, hint_code, cycles_seen, hint "
                     "from marts.sop_feedback where feedback_type = 'recurring_exception'")
    recurring = {(r[0], r[1]): r for r in feedback}
    assert recurring[("projected_stockout", "A")][2:4] == ("supplier_late", 4)
    assert "Supplier lead time longer than planned" in recurring[("projected_stockout", "A")][4]
    assert recurring[("projected_stockout", "B")][2:4] == ("supply_short_of_plan", 4)
    assert not [key for key in recurring if key[0] == "inventory_mismatch"]
