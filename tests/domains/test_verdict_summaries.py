"""metrics.json's domain entries as an evaluation writes them (SweepEvaluation.summary), for every domain: its verdicts
judged by the paired test on enough test items, null with ``verdicts_not_judged`` saying why on too few, and no such
entry where a domain has no verdicts or a sweep gives it none to judge."""

from __future__ import annotations

from types import SimpleNamespace

from domains.images.domain import ImageDomain
from domains.polynomial.domain import PolynomialDomain
from domains.sdf.domain import SdfDomain
from domains.sdf.metrics import METRIC_NOTES as SDF_NOTES
from domains.video.domain import VideoDomain
from domains.video.domain import METRIC_NOTES as VIDEO_NOTES
from pixeltransformer.domain import Domain
from pixeltransformer.evaluation import SweepEvaluation

FEW = "2 test items, fewer than the 5 a paired comparison of methods needs: the verdicts are null; evaluate more test " \
      "items (trainer.callbacks.max_items)"
WHOLE = f"{FEW}, or a larger test split, to judge them"  # the test split held no more
CUT = f"{FEW} to judge them"  # max_items stopped there


def summary(domain: Domain, rows: list[dict], items: dict, max_items: int | None = None) -> dict:
    sweep = SweepEvaluation(levels=sorted({r["num_context"] for r in rows}), max_items=max_items)
    sweep._values, sweep.evaluated = items, set().union(*items.values())
    return sweep.summary(rows, SimpleNamespace(domain=domain))


def per_item(columns: dict[tuple[int, str], list[float]]) -> dict:
    return {key: dict(enumerate(v)) for key, v in columns.items()}


def means(items: dict) -> list[dict]:
    rows: dict[int, dict] = {}
    for (k, name), v in items.items():
        rows.setdefault(k, {"num_context": k})[name] = sum(v.values()) / len(v)
    return [rows[k] for k in sorted(rows)]


def test_sdf_verdicts_as_metrics_json_holds_them():
    def items(mean: list[float], nn: list[float]) -> dict:
        return per_item({(k, n): v for k in (4, 32) for n, v in (("iou_mean", mean), ("iou_nn", nn))})

    few = items([0.5, 0.6], [0.4, 0.5])
    gain = means(few)[-1]["iou_mean"] - means(few)[0]["iou_mean"]
    for max_items, why in ((None, WHOLE), (3, WHOLE), (2, CUT)):
        assert summary(SdfDomain(), means(few), few, max_items) == {
            "iou_mean_gain": gain, "iou_mean_beats_nn_at": None, "iou_model_beats_baselines_at": None,
            "verdicts_not_judged": why, "metric_notes": SDF_NOTES}
    steady = items([0.5, 0.6, 0.7, 0.4, 0.55, 0.65], [0.4, 0.52, 0.6, 0.33, 0.44, 0.57])  # ahead on every shape
    assert summary(SdfDomain(), means(steady), steady) == {
        "iou_mean_gain": 0.0, "iou_mean_beats_nn_at": [4, 32], "iou_model_beats_baselines_at": [4, 32],
        "metric_notes": SDF_NOTES}
    noisy = items([0.9, 0.1, 0.8, 0.2, 0.7, 0.3], [0.2, 0.6, 0.1, 0.5, 0.3, 0.4])  # ahead by its mean alone
    assert summary(SdfDomain(), means(noisy), noisy) == {
        "iou_mean_gain": 0.0, "iou_mean_beats_nn_at": [], "iou_model_beats_baselines_at": [],
        "metric_notes": SDF_NOTES}
    one_level = {key: v for key, v in few.items() if key[0] == 4}  # no gain, no verdicts: nothing to say why of
    assert summary(SdfDomain(), means(one_level), one_level) == {"metric_notes": SDF_NOTES}


def test_video_verdict_as_metrics_json_holds_it():
    def items(low: list[float], high: list[float]) -> dict:
        return per_item({(8, "psnr"): low, (8, "nn_psnr"): [x - 1 for x in low],
                         (32, "psnr"): high, (32, "nn_psnr"): [x - 2 for x in high]})

    gains = {"8": 1.0, "32": 2.0}
    few = items([19.0, 21.0], [21.0, 23.0])
    for max_items, why in ((None, WHOLE), (2, CUT)):
        assert summary(VideoDomain(), means(few), few, max_items) == {
            "psnr_rises_with_context": None, "mean_psnr_gain_over_nn_db": gains, "verdicts_not_judged": why,
            "metric_notes": VIDEO_NOTES}
    steady = items([19.0, 20.0, 21.0, 20.5, 19.5], [21.0, 22.1, 22.9, 22.4, 21.6])
    assert summary(VideoDomain(), means(steady), steady) == {
        "psnr_rises_with_context": True, "mean_psnr_gain_over_nn_db": gains, "metric_notes": VIDEO_NOTES}
    noisy = items([19.0, 25.0, 21.0, 15.0, 20.0], [26.0, 19.0, 27.0, 20.0, 18.0])  # higher by its mean alone
    assert summary(VideoDomain(), means(noisy), noisy)["psnr_rises_with_context"] is False
    one_level = {key: v for key, v in few.items() if key[0] == 8}  # no trend to judge: null, and nothing said
    assert summary(VideoDomain(), means(one_level), one_level) == {
        "psnr_rises_with_context": None, "mean_psnr_gain_over_nn_db": {"8": 1.0}, "metric_notes": VIDEO_NOTES}


def test_domains_without_verdicts_say_nothing_of_them():
    few = per_item({(4, "nll"): [1.0, 2.0], (8, "nll"): [0.5, 1.5]})
    for domain in (ImageDomain(), PolynomialDomain()):
        assert summary(domain, means(few), few) == domain.summary(means(few))


def test_a_video_verdict_of_too_few_scored_clips_is_null_and_says_why():
    """Of 5 clips, where the last level's PSNR was a number on one (NaN on the others, a prediction of NaN),
    psnr_rises_with_context read false: judged, against. It could not be judged: null now, and verdicts_not_judged
    says why."""
    nan = float("nan")
    items = per_item({(8, "psnr"): [19.0, 20.0, 21.0, 20.5, 19.5], (32, "psnr"): [25.0, nan, nan, nan, nan]})
    rows = [{"num_context": 8, "psnr": 20.0}, {"num_context": 32, "psnr": 25.0}]
    result = summary(VideoDomain(), rows, items)
    assert result["psnr_rises_with_context"] is None
    assert result["verdicts_not_judged"] == (
        "psnr_rises_with_context: fewer than 2 test items have both values to compare at |S| = 8 and 32 (NaN values "
        "left out), no standard error to judge by: null")


def test_an_sdf_verdict_of_too_few_scored_shapes_at_a_level_is_null_and_says_why():
    """Of 5 shapes, where the nearest-neighbour fill's IoU at |S| = 32 was a number on one (NaN on the others), the
    paired test gave no answer there and |S| = 32 was left out of iou_mean_beats_nn_at: [4] read as a loss at 32,
    never judged. Each list is null now, and metrics.json's verdicts_not_judged says why (the evaluation prints it)."""
    nan = float("nan")
    ahead, behind = [0.5, 0.6, 0.7, 0.4, 0.55], [0.4, 0.52, 0.6, 0.33, 0.44]  # ahead on every shape
    items = per_item({(4, "iou_mean"): ahead, (4, "iou_nn"): behind,
                      (32, "iou_mean"): ahead, (32, "iou_nn"): [0.4, nan, nan, nan, nan]})
    result = summary(SdfDomain(), means(items), items)
    assert result["iou_mean_beats_nn_at"] is None and result["iou_model_beats_baselines_at"] is None
    assert result["verdicts_not_judged"] == (
        "iou_mean_beats_nn_at and iou_model_beats_baselines_at: fewer than 2 test items have both values to compare "
        "at |S| = 32 (NaN values left out), no standard error to judge by: null")
