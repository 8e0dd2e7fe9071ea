"""The shipped config files: what a quick evaluation keeps of its domain's config."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_evaluations_keep_the_domain_s_sweep_without_its_samples():
    """configs/<domain>/eval_quick.yaml (ARGS="--config ..." after the data overlay) evaluates the same |S| levels
    with the same sweep and picture callbacks as the domain's config, without the sweep's per-level samples and with
    at most one sample a picture: video had no quicker evaluation than its default of minutes on a CPU."""
    import yaml

    for domain in ("sdf", "video"):
        full = yaml.safe_load((REPO / "configs" / f"{domain}.yaml").read_text())["trainer"]["callbacks"]
        quick = yaml.safe_load((REPO / "configs" / domain / "eval_quick.yaml").read_text())["trainer"]["callbacks"]
        assert [c["class_path"] for c in quick] == [c["class_path"] for c in full], domain
        sweep, pictures = quick[-1]["init_args"], quick[0]["init_args"]
        assert sweep["levels"] == full[-1]["init_args"]["levels"] and sweep["num_samples"] == 0, domain
        assert pictures["levels"] == full[0]["init_args"]["levels"] and pictures["num_samples"] == 1, domain
