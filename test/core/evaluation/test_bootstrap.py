import numpy as np
import pytest

from rcmcl_core.evaluation.bootstrap import accuracy_interval, array_to_bits, bits_to_array, rgs_interval
from rcmcl_core.evaluation.robustness import ConditionResult, dropout_table, read_results, rgs, write_results


def test_bits_round_trip():
    correct = np.array([True, False, False, True, True])
    assert array_to_bits(correct) == "10011"
    np.testing.assert_array_equal(bits_to_array("10011"), correct)


def test_accuracy_interval_brackets_the_accuracy_and_shrinks_with_more_clips():
    rng = np.random.default_rng(0)
    small, large = rng.random(360) < 0.9, rng.random(3600) < 0.9
    low_s, high_s = accuracy_interval(small)
    low_l, high_l = accuracy_interval(large)
    assert low_s < 100 * small.mean() < high_s and low_l < 100 * large.mean() < high_l
    # binomial rule of thumb: +-1.96 sqrt(p(1-p)/n) = +-3.1 points at n=360, +-1.0 at n=3600
    assert 4.5 < high_s - low_s < 8.0 and 1.5 < high_l - low_l < 2.6


def test_rgs_interval_is_paired_and_contains_the_point_estimate():
    rng = np.random.default_rng(1)
    clean = rng.random(1000) < 0.9
    method = {"clean": clean, "R&P missing": clean & (rng.random(1000) < 0.8)}
    supervised = {"clean": clean, "R&P missing": clean & (rng.random(1000) < 0.5)}
    low, high = rgs_interval(method, supervised)
    def rdp(m):
        return 100 * (m["clean"].mean() - m["R&P missing"].mean()) / m["clean"].mean()
    point = rdp(supervised) - rdp(method)                       # ~ 50 - 20 = 30 points
    assert low < point < high and low > 15
    same = rgs_interval(method, method)                         # paired: a method against itself is exactly 0
    assert same == [0.0, 0.0]
    with pytest.raises(ValueError, match="same clips"):
        rgs_interval(method, {"clean": clean[:10], "R&P missing": clean[:10]})


def test_results_keep_per_clip_hits_and_the_table_prints_the_rgs_interval(tmp_path):
    rng = np.random.default_rng(2)
    def result(clean_p, rp_p):
        out = {}
        for name, p in (("clean", clean_p), ("R missing", 0.8), ("S missing", 0.8), ("P missing", 0.8),
                        ("R&P missing", rp_p)):
            hits = rng.random(500) < p
            out[name] = ConditionResult(accuracy=100 * hits.mean(), mean_gates=[0.5] * 3, clips=500,
                                        interval_95=accuracy_interval(hits), correct=array_to_bits(hits))
        return out
    methods = {"Supervised": result(0.9, 0.4), "RCMCL": result(0.9, 0.7)}
    write_results(tmp_path / "r.json", methods)
    back = read_results(tmp_path / "r.json")
    assert back["RCMCL"]["clean"].correct == methods["RCMCL"]["clean"].correct
    table = dropout_table(back, supervised="Supervised")
    row = next(line for line in table.splitlines() if line.startswith("| RCMCL"))
    assert f"{rgs(back['RCMCL'], back['Supervised']):+.1f} [+" in row


def test_results_written_before_intervals_existed_still_load(tmp_path):
    (tmp_path / "old.json").write_text('{"m": {"clean": {"accuracy": 50.0, "mean_gates": [1, 1, 1], "clips": 4}}}')
    old = read_results(tmp_path / "old.json")["m"]["clean"]
    assert old.interval_95 is None and old.correct is None
