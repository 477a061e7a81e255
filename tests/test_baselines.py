"""The sensing panel's baselines, measures and selection (soe_pipeline.sensing.baselines) on
series small enough to compute by hand. Each hand computation is in the comments."""

from __future__ import annotations

import numpy as np
import pytest

from soe_pipeline.sensing.baselines import (
    adida_path,
    bias_corrected,
    chosen_moving_average_path,
    combined_forecast,
    combined_sensing_forecast,
    committed_plan_path,
    croston_path,
    demand_classes,
    horizon_actuals,
    moving_average_path,
    naive_scale,
    panel_forecasts,
    panel_scores,
    seasonal_naive_forecasts,
    select_per_class,
    select_per_series,
    ses_path,
    span_history,
    tsb_path,
)

# Six weeks, first sale in week 1: [-, 4, 0, 2, 6, 0]. Path column t = forecast made at
# origin t (the start of week t) from weeks 0 .. t-1.
SIX_WEEKS = span_history([[0, 4, 0, 2, 6, 0]])


def test_span_history_starts_at_the_first_sale_and_reads_gaps_and_returns_as_zero():
    history = span_history([[0, np.nan, 3, np.nan, -2, 5], [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(history[0], [np.nan, np.nan, 3, 0, 0, 5])
    assert np.isnan(history[1]).all()  # never sold: nothing to forecast from


def test_moving_average_by_hand():
    # MA(3): origin 2 sees week 1 only -> 4; origin 4 -> (4 + 0 + 2) / 3 = 2;
    # origin 6 -> (2 + 6 + 0) / 3 = 8/3. No forecast before the first sale (origins 0, 1).
    np.testing.assert_allclose(
        moving_average_path(SIX_WEEKS, 3)[0], [np.nan, np.nan, 4, 2, 2, 8 / 3, 8 / 3]
    )
    # MA(8) at origin 6: the 5 weeks since the first sale, 12 / 5.
    assert moving_average_path(SIX_WEEKS, 8)[0, 6] == pytest.approx(2.4)


def test_moving_average_window_is_chosen_on_past_one_step_errors_only():
    # A series that alternates 0, 10: MA(2) always forecasts 5 (error 5 every week), every
    # odd window swings. MA(2) wins, and only from errors of weeks before the origin.
    history = span_history([[10, 0] * 10])
    path, window = chosen_moving_average_path(history, windows=(2, 3))
    assert window[0, -1] == 2
    assert path[0, -1] == pytest.approx(5.0)


def test_ses_by_hand():
    # alpha 0.3, weight max(0.3, 1/k) at the k-th week seen:
    # week 1: 4 (weight 1); week 2: 4 + 1/2 (0 - 4) = 2; week 3: 2 + 1/3 (2 - 2) = 2;
    # week 4: 2 + 0.3 (6 - 2) = 3.2; week 5: 3.2 + 0.3 (0 - 3.2) = 2.24.
    np.testing.assert_allclose(ses_path(SIX_WEEKS, 0.3)[0], [np.nan, np.nan, 4, 2, 2, 3.2, 2.24])


def test_croston_and_sba_by_hand():
    # alpha 0.1, weight max(0.1, 1/k) at the k-th size (interval) observed:
    # week 1 sale 4: size 4; no interval yet -> weeks since the sale + 1 = 1: forecast 4.
    # week 2 zero: interval so far at least 2: 4 / 2 = 2.
    # week 3 sale 2 after 2 weeks: size 4 + 1/2 (2 - 4) = 3, interval 2: 1.5.
    # week 4 sale 6 after 1 week: size 3 + 1/3 (6 - 3) = 4, interval 2 + 1/2 (1 - 2) = 1.5:
    #   4 / 1.5 = 8/3, unchanged by the zero of week 5. SBA: x (1 - 0.1 / 2) = 0.95.
    expected = np.array([np.nan, np.nan, 4, 2, 1.5, 8 / 3, 8 / 3])
    np.testing.assert_allclose(croston_path(SIX_WEEKS)[0], expected)
    np.testing.assert_allclose(croston_path(SIX_WEEKS, debiased=True)[0], 0.95 * expected)


def test_tsb_by_hand():
    # alpha = beta = 0.1; probability weight max(0.1, 1/weeks seen), size weight max(0.1,
    # 1/sales): probability 1, 1/2, 2/3, 2/3 + 1/4 (1 - 2/3) = 3/4, 3/4 + 1/5 (0 - 3/4) =
    # 0.6; size 4, 4, 3, 4, 4. Forecast = probability x size: 4, 2, 2, 3, 2.4: unlike
    # Croston's, it falls after the zero week.
    np.testing.assert_allclose(tsb_path(SIX_WEEKS)[0], [np.nan, np.nan, 4, 2, 2, 3, 2.4])


def test_adida_by_hand():
    # 2-week buckets ending at the origin, SES alpha 0.1 on the bucket means.
    # Origin 6: buckets weeks 0-1 (only week 1 sold: 4), 2-3 (1), 4-5 (3):
    #   4, then (4 + 1) / 2 = 2.5, then 2.5 + 1/3 (3 - 2.5) = 8/3.
    # Origin 5: weeks 1-2 (2), 3-4 (4) (week 0 is before the first sale): 2, then 3.
    path = adida_path(SIX_WEEKS, bucket_weeks=2, alphas=(0.1,))
    assert path[0, 6] == pytest.approx(8 / 3)
    assert path[0, 5] == pytest.approx(3.0)


def test_committed_plan_is_the_13_week_mean_four_weeks_old():
    history = span_history([np.arange(1, 31, dtype=float)])  # week w sold w + 1
    plan = committed_plan_path(history)
    # Origin 25: weeks 8 .. 20 (25 - 17 .. 25 - 5), units 9 .. 21: mean 15.
    assert plan[0, 25] == pytest.approx(15.0)
    # Origin 6: only weeks 0 and 1 are 5+ weeks old: mean of 1 and 2.
    assert plan[0, 6] == pytest.approx(1.5)
    assert np.isnan(plan[0, 4])  # nothing is 5 weeks old yet: no plan


def test_seasonal_naive_uses_last_year_where_history_allows():
    history = span_history([np.arange(1, 61, dtype=float)])
    forecasts = seasonal_naive_forecasts(history, horizon=2, season_weeks=52)
    # Origin 55, weeks 55 and 56: weeks 3 and 4 a year earlier, units 4 and 5.
    np.testing.assert_allclose(forecasts[:, 0, 55], [4, 5])
    # Origin 10: a year earlier is before the series: naive, the last week (units 10).
    np.testing.assert_allclose(forecasts[:, 0, 10], [10, 10])


def test_no_method_looks_past_its_origin():
    """Changing the weeks from t on leaves every forecast made at origins <= t unchanged."""
    rng = np.random.default_rng(3)
    history = span_history(rng.poisson(2.0, (6, 60)) * (rng.random((6, 60)) < 0.6))
    changed = history.copy()
    changed[:, 40:] = np.where(np.isnan(changed[:, 40:]), np.nan, 50.0)
    before, after = panel_forecasts(history, 4), panel_forecasts(changed, 4)
    for name in before:
        np.testing.assert_array_equal(
            np.broadcast_to(before[name], (4, 6, 61))[..., :41],
            np.broadcast_to(after[name], (4, 6, 61))[..., :41],
            err_msg=name,
        )


def test_demand_classes_by_hand():
    # [-, 4, 0, 2, 6, 0] at origin 6: 5 weeks, 3 with a sale: ADI 5/3 = 1.67 >= 1.32;
    # sizes 4, 2, 6: mean 4, variance 8/3, CV^2 = (8/3) / 16 = 1/6 < 0.49: intermittent.
    adi, cv2, code = demand_classes(SIX_WEEKS)
    assert adi[0, 6] == pytest.approx(5 / 3)
    assert cv2[0, 6] == pytest.approx(1 / 6)
    assert code[0, 6] == 2  # "intermittent"
    assert code[0, 1] == -1  # no sale yet
    assert code[0, 2] == 0  # one week, one sale: smooth


def test_metrics_on_two_series_by_hand():
    # Origin 3, horizon 2. Series A: history 8, 12, 10; actual 10, 10; forecast 8, 12.
    # Series B: history -, 1, 3 (first sale week 1); actual 0, 2; forecast 1, 3.
    history = np.array([[8, 12, 10, 10, 10], [np.nan, 1, 3, 0, 2]], dtype=float)
    actual = horizon_actuals(history, 2)[:, :, [3]]
    forecast = np.array([[[8], [1]], [[12], [3]]], dtype=float)  # (horizon, series, origin)
    scale = naive_scale(history)[:, [3]]
    # Scale: A's diffs before origin 3: 4, -2 -> (16 + 4) / 2 = 10; B's: 2 -> 4.
    np.testing.assert_allclose(scale[:, 0], [10, 4])
    score = panel_scores(actual, forecast, scale)
    # sum A = 22; sum|F - A| = 2 + 2 + 1 + 1 = 6; sum(F - A) = -2 + 2 + 1 + 1 = 2.
    assert score.wape == pytest.approx(6 / 22)
    assert score.bias == pytest.approx(2 / 22)
    assert score.vn1 == pytest.approx(8 / 22)
    # RMSSE A = sqrt(((4 + 4) / 2) / 10), B = sqrt(((1 + 1) / 2) / 4) = 0.5; mean of the two.
    assert score.rmsse == pytest.approx((np.sqrt(0.4) + 0.5) / 2)
    assert (score.forecasts, score.rmsse_series) == (4, 2)


def test_a_zero_forecast_scores_wape_one_and_bias_minus_one():
    history = span_history([[3, 1, 4, 1, 5, 9, 2, 6]])
    actual = horizon_actuals(history, 4)[:, :, [4]]
    score = panel_scores(actual, np.zeros_like(actual), naive_scale(history)[:, [4]])
    assert (score.wape, score.bias, score.vn1) == (1.0, -1.0, 2.0)


def test_unscored_cells_are_skipped_and_a_missing_forecast_is_an_error():
    actual = np.array([[[5.0, np.nan]]])  # the second origin is not scored
    score = panel_scores(actual, np.array([[[4.0, np.nan]]]), np.ones((1, 2)))
    assert score.wape == pytest.approx(0.2)
    with pytest.raises(ValueError, match="missing"):
        panel_scores(actual, np.array([[[np.nan, 1.0]]]), np.ones((1, 2)))


def _two_regimes() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Series 0 is steady at 10 (the plan, 10, is right); series 1 ramps (the last week,
    "naive", is nearly right, the plan lags)."""
    steady = np.full(40, 10.0)
    ramp = np.arange(1, 41, dtype=float)
    history = np.vstack([steady, ramp])
    naive = np.concatenate([np.full((2, 1), np.nan), history], axis=1)
    candidates = {
        "plan": np.full((1, 2, 41), 10.0),
        "naive": naive[None],
        "ses_chosen": naive[None],
    }
    return history, candidates


def test_selection_keeps_the_plan_where_it_is_as_good_and_switches_where_it_is_not():
    history, candidates = _two_regimes()
    forecast, choice = select_per_series(history, candidates, horizon=4, lookback=8)
    names = list(candidates)
    # Series 0: plan and naive are both exact -> the plan stays (ties keep it).
    assert names[choice[0, 40]] == "plan"
    # Series 1: naive's errors (1..4 per horizon week) beat the lagging plan's.
    assert names[choice[1, 40]] == "naive"
    assert forecast[0, 1, 40] == pytest.approx(40.0)
    # Before any past horizon has ended there is nothing to judge by: the plan.
    assert names[choice[1, 3]] == "plan"


def test_class_selection_applies_one_choice_to_every_series_of_a_class():
    history, candidates = _two_regimes()
    classes = np.zeros((2, 41), dtype=np.int64)  # both "smooth"
    _, choice = select_per_class(history, candidates, classes, horizon=4, lookback=8)
    # Pooled, naive's error on the ramp outweighs nothing on the steady series.
    assert choice[0, 40] == choice[1, 40] == list(candidates).index("naive")


def test_combined_forecast_is_the_plain_mean():
    candidates = {
        "a": np.full((1, 1, 3), 3.0),
        "b": np.full((1, 1, 3), 6.0),
        "c": np.zeros((1, 1, 3)),
    }
    np.testing.assert_allclose(combined_forecast(candidates, ("a", "b", "c")), 3.0)


def test_bias_correction_by_hand():
    # 20 weeks of 10 units; a flat forecast of 11 from every origin. At origin o, the past
    # origins whose 4-week horizon has ended (t <= o - 4, t >= 1: after the first sale)
    # pooled: sum A / sum F = 10 / 11, so 11 x 10 / 11 = 10 from origin 5 on; 11 before.
    history = span_history([np.full(20, 10.0)])
    classes = np.zeros((1, 21), dtype=np.int64)
    corrected = bias_corrected(history, np.full((1, 1, 21), 11.0), classes, horizon=4)
    np.testing.assert_allclose(corrected[0, 0, 5:], 10.0)
    np.testing.assert_allclose(corrected[0, 0, :5], 11.0)
    # A forecast twice too high is corrected by at most the limit (x 0.8): 20 -> 16.
    capped = bias_corrected(history, np.full((1, 1, 21), 20.0), classes, horizon=4)
    assert capped[0, 0, 20] == pytest.approx(16.0)


def test_combined_sensing_forecast_keeps_a_plan_that_is_right():
    # Series 0 sells 10 a week and its plan says 10; series 1 ramps up and its plan stays
    # at 10. The plan stays for series 0; series 1 gets the debiased combination.
    history = np.vstack([np.full(40, 10.0), np.arange(1, 41, dtype=float)])
    plan = np.full((2, 41), 10.0)
    result = combined_sensing_forecast(history, plan, horizon=4)
    assert result.keeps_plan[0, 40] and not result.keeps_plan[1, 40]
    assert result.plan_or_debiased[0, 0, 40] == pytest.approx(10.0)
    assert result.plan_or_debiased[0, 1, 40] == pytest.approx(result.debiased[0, 1, 40])
    assert result.plan_or_debiased[0, 1, 40] > 30  # following the ramp, not the plan
