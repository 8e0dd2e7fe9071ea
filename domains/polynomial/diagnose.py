"""Where a 1D model's gap to the exact oracle comes from: queries grouped by their distance to the nearest observed
point (and, for the GP benchmark, by the context size).

    python -m domains.polynomial.diagnose runs/polynomial/<run>/checkpoints/last.ckpt [--levels 4 6]
    python -m domains.polynomial.diagnose runs/polynomial/<gp_tnp run>/checkpoints/last.ckpt [--batches 500]

Polynomial checkpoints (and gp_rbf, gp_matern, gp_periodic ones): fresh functions are drawn from the checkpoint's own
prior (degree and coefficient scale, or kernel; its grid), with context and query positions on distinct grid points.
For each |S| and distance group (in x units) the table gives the share of queries, the mean NLL gap per query (nats),
and medians of the model's and the oracle's predictive sigma and absolute error (y units). A level above the largest
|S| the checkpoint trained on (model.sets max_context) is scored too, with a line on stderr saying so.

GP-benchmark checkpoints (gp_tnp_rbf, gp_tnp_matern; not gp_tnp_periodic, which has no Bayes predictor): the
benchmark's own test batches, each with the (Nc, Nt) the evaluation draws for it, so the overall gap is metrics.json's
target_ll_gap for the same number of batches (the test split of the data seed in the run folder's config.yaml, 0
without one). Each target carries the weight the benchmark gives it (1 / Nt within its batch), so a group's share
times its gap sums to the overall gap. Distances are in units of each function's lengthscale. Beside the gap to the
exact oracle (told each function's hyperparameters), the gap to the Bayes predictor
(oracles.gp_protocol_bayes_log_lik: the hyperparameters inferred from S under their priors), the best any model can
reach.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

if __name__ == "__main__":  # Ctrl-C while torch imports: one line, status 130
    from pixeltransformer.errors import ctrl_c_exits_while_importing

    ctrl_c_exits_while_importing()

import torch

from pixeltransformer.cache import unwritable
from pixeltransformer.errors import OneLineParser, ctrl_c_main, listed
from pixeltransformer.files import missing_folders, remove_empty

from . import domain  # noqa: F401  registers the Domain a checkpoint names (load_module finds it by name)
from .data import CHECKPOINT_GRID, GPDataset, PolynomialDataset, split_seed
from .evaluation import protocol_lls
from .kernels import gaussian_nll
from .metrics import prior_oracle
from .oracles import has_bayes_predictor
from .protocol import GPProtocolDataset, evaluation_sizes, is_protocol, point_set_layout
from .visualize import figure_gap_by_distance

GROUPS = ((0.0, 0.01), (0.01, 0.05), (0.05, 0.2), (0.2, math.inf))  # distance to the nearest sample, in x units
GP_DISTANCES = ((0.0, 0.1), (0.1, 0.3), (0.3, 1.0), (1.0, math.inf))  # to the nearest context point, in lengthscales
GP_CURVE = ((0.0, 0.02), (0.02, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 1.0),
            (1.0, 1.5), (1.5, math.inf))  # the same distance in finer steps, for the figure
DENSE_PRIORS = ("polynomial", "gp_rbf", "gp_matern", "gp_periodic")  # generated on a grid, with an exact oracle
DEFAULTS = {"levels": [4, 5, 6], "functions": 512, "queries": 100, "seed": 5, "batches": 500}  # of the options
GP_CONTEXT_SIZES = ((3, 10), (11, 20), (21, 33), (34, 46))  # Nc, both ends included


def check_dense(spec, num_context: int = 1, num_queries: int = 1) -> None:
    """The |S| breakdown needs generated functions with an exact oracle, and |S| + queries (each >= 1) distinct grid
    points of them."""
    if spec.domain != "polynomial" or spec.dataset not in DENSE_PRIORS:
        raise ValueError(f"the diagnostic needs a checkpoint of 1D functions with a known prior (polynomial, gp_rbf, "
                         f"gp_matern, gp_periodic; gp_tnp_rbf, gp_tnp_matern: the benchmark's breakdown), "
                         f"not {spec.domain}/{spec.dataset}"
                         + (" (curves from a file have no exact oracle)" if spec.dataset == "file" else ""))
    if num_context < 1 or num_queries < 1:
        raise ValueError(f"|S| and the queries must be >= 1, got {num_context}, {num_queries}")
    res = spec.grid_shape[0]
    if num_context + num_queries > res:
        raise ValueError(f"|S| + queries = {num_context + num_queries} exceeds the {res} grid points of the "
                         f"checkpoint's functions: give fewer --queries or lower --levels")


@torch.no_grad()
def gap_by_distance(module, num_context: int, num_functions: int = 512, num_queries: int = 100,
                    seed: int = 5) -> dict:
    """One |S| level: {"num_context", "num_functions", "num_queries", "gap", "groups": [{"d", "share", "gap",
    "model_sigma", ...}, ...]}. Functions of a polynomial checkpoint's prior, or of a gp_rbf / gp_matern / gp_periodic one's (its
    kernel's exact predictive is the oracle there, as in the evaluation)."""
    spec = module.spec
    check_dense(spec, num_context, num_queries)
    if num_functions < 1:
        raise ValueError(f"the functions must be >= 1, got {num_functions}")
    res = spec.grid_shape[0]
    ex = spec.extra
    # drawn on the checkpoint's grid, which no option of the diagnosis changes: its memory refusals say so
    if spec.dataset == "polynomial":  # every function at once: --functions
        functions = PolynomialDataset(num_functions, ex["degree"], ex["coef_std"], res, seed + num_context,
                                      drawn=num_functions, option=CHECKPOINT_GRID, functions_option="--functions")
    else:  # the grid [-x_max, x_max] the GP draws were trained on, x_max the spec's pos_scale
        functions = GPDataset(num_functions, ex["kernel"], ex["lengthscale"], ex["variance"], res, spec.pos_scale,
                              seed + num_context, ex.get("period"), option=CHECKPOINT_GRID)
    signal = torch.stack([functions[i]["signal"][0] for i in range(num_functions)]).double()  # [N, R]
    gen = torch.Generator().manual_seed(seed + num_context)
    idx = torch.stack([torch.randperm(res, generator=gen)[: num_context + num_queries]
                       for _ in range(num_functions)])  # [N, K+Q]
    x = torch.linspace(-1, 1, res, dtype=torch.float64)[idx] * spec.pos_scale  # [N, K+Q]
    y = signal.gather(1, idx)  # [N, K+Q]
    cx, cy, qx, qy = x[:, :num_context], y[:, :num_context], x[:, num_context:], y[:, num_context:]
    params = module.predict_params((cx / spec.pos_scale).float().unsqueeze(-1), cy.float().unsqueeze(-1),
                                   (qx / spec.pos_scale).float().unsqueeze(-1))  # [N, Q, NP]
    nll = -module.dist.log_prob(params, qy.float().unsqueeze(-1)).double()  # [N, Q]
    mean = module.dist.mean(params)[..., 0].double()  # [N, Q]
    sigma = module.dist.variance(params)[..., 0].sqrt().double()  # [N, Q]
    o_mean, o_var = prior_oracle(spec, cx, cy, qx)  # [N, Q] each
    o_nll = gaussian_nll(o_mean, o_var, qy)  # [N, Q]
    gap = nll - o_nll  # [N, Q]
    dist = (qx.unsqueeze(-1) - cx.unsqueeze(1)).abs().min(-1).values  # [N, Q]
    groups = []
    for lo, hi in GROUPS:
        sel = (dist >= lo) & (dist < hi)
        if not sel.any():
            continue
        groups.append({"d": [lo, None if math.isinf(hi) else hi], "share": sel.double().mean().item(),
                       "gap": gap[sel].mean().item(), "model_sigma": sigma[sel].median().item(),
                       "oracle_sigma": o_var[sel].sqrt().median().item(),
                       "model_abs_error": (mean - qy).abs()[sel].median().item(),
                       "oracle_abs_error": (o_mean - qy).abs()[sel].median().item()})
    return {"num_context": num_context, "num_functions": num_functions, "num_queries": num_queries,
            "gap": gap.mean().item(), "groups": groups}


def check_breakdown(kernel: str) -> None:
    """Refuse a benchmark kernel with no Bayes predictor: the breakdown sets the gap to the oracle beside that to it."""
    if not has_bayes_predictor(kernel):
        raise ValueError(f"the GP breakdown sets the gap to the oracle beside that to the Bayes predictor, which the "
                         f"{kernel} kernel has none of; give a gp_tnp_rbf or gp_tnp_matern checkpoint")


@torch.no_grad()
def gp_gap_breakdown(module, num_batches: int = 500, batch_size: int = 16, eval_seed: int = 0,
                     data_seed: int = 0) -> dict:
    """The GP benchmark's target log-likelihood gap (nats) over its first `num_batches` test batches to the exact
    oracle ("gap") and to the Bayes predictor ("bayes_gap"), overall and by group: {"gap", "bayes_gap",
    "num_batches", "by_distance", "by_context", "curve" (by distance in finer steps)}, each a list of groups
    {"range", "share", "gap", "bayes_gap", "model_sigma", "oracle_sigma", "model_abs_error", "oracle_abs_error"}.
    ``data_seed`` is the DataModule's seed (``--data.init_args.seed``); its test split is scored."""
    spec = module.spec
    ex = spec.extra
    if not is_protocol(spec):
        raise ValueError(f"the GP breakdown needs a gp_tnp_* checkpoint, not {spec.domain}/{spec.dataset}")
    check_breakdown(ex["kernel"])
    if num_batches < 1:
        raise ValueError(f"--batches must be >= 1, got {num_batches}")
    data = GPProtocolDataset(num_batches * batch_size, ex["kernel"], split_seed(data_seed, "test"), ex["max_points"],
                             spec.pos_scale, ex["lengthscale_range"], ex["scale_range"], ex["noise_std"])
    cols: dict[str, list[torch.Tensor]] = {k: [] for k in ("gap", "bayes_gap", "weight", "d", "nc", "model_sigma",
                                                           "oracle_sigma", "model_abs_error", "oracle_abs_error")}
    batch_gaps, batch_bayes_gaps = [], []
    for number in range(num_batches):
        items = [data[i] for i in range(number * batch_size, (number + 1) * batch_size)]
        pos, val = point_set_layout(torch.stack([it["signal"] for it in items]))  # [b, N, 1] each
        ls = torch.stack([it["lengthscale"] for it in items])  # [b]
        nc, nt = evaluation_sizes(eval_seed, number, ex["max_points"])
        qry = slice(nc, nc + nt)
        scores = protocol_lls(module, pos[:, :nc], val[:, :nc], pos[:, qry], val[:, qry], ls,
                              torch.stack([it["scale"] for it in items]))  # the evaluation's, [b, Nt] each
        gap, bayes_gap = scores["oracle_ll"] - scores["ll"], scores["bayes_ll"] - scores["ll"]  # [b, Nt] each
        batch_gaps.append(gap.mean())
        batch_bayes_gaps.append(bayes_gap.mean())
        cx, qx = pos[:, :nc, 0].double(), pos[:, qry, 0].double()  # [b, Nc], [b, Nt] (normalised: ratios below)
        d = (qx.unsqueeze(-1) - cx.unsqueeze(1)).abs().min(-1).values * spec.pos_scale  # [b, Nt] in x units
        per_target = {"gap": gap, "bayes_gap": bayes_gap, "d": d / ls.double().unsqueeze(-1),
                      "weight": torch.full_like(gap, 1.0 / gap.numel()), "nc": torch.full_like(gap, float(nc)),
                      "model_sigma": scores["sigma"], "oracle_sigma": scores["oracle_sigma"],
                      "model_abs_error": scores["mse"].sqrt(), "oracle_abs_error": scores["oracle_mse"].sqrt()}
        for k, v in per_target.items():
            cols[k].append(v.flatten())
    c = {k: torch.cat(v) for k, v in cols.items()}  # [T] each, T the targets of all batches

    def groups(key: str, bounds: tuple, closed: bool) -> list[dict]:
        out = []
        for lo, hi in bounds:
            sel = (c[key] >= lo) & ((c[key] <= hi) if closed else (c[key] < hi))  # [T]
            if not sel.any():
                continue
            w = c["weight"][sel]  # [T']
            out.append({"range": [lo, None if math.isinf(hi) else hi], "share": (w.sum() / c["weight"].sum()).item(),
                        "gap": ((c["gap"][sel] * w).sum() / w.sum()).item(),
                        "bayes_gap": ((c["bayes_gap"][sel] * w).sum() / w.sum()).item(),
                        **{k: c[k][sel].median().item() for k in ("model_sigma", "oracle_sigma", "model_abs_error",
                                                                  "oracle_abs_error")}})
        return out

    return {"gap": torch.stack(batch_gaps).mean().item(), "bayes_gap": torch.stack(batch_bayes_gaps).mean().item(),
            "num_batches": num_batches, "kernel": ex["kernel"],
            "by_distance": groups("d", GP_DISTANCES, closed=False), "by_context": groups("nc", GP_CONTEXT_SIZES, True),
            "curve": groups("d", GP_CURVE, closed=False)}


def format_gp_tables(result: dict) -> str:
    lines = [f"GP benchmark ({result['kernel']}), {result['num_batches']} test batches: target-LL gap "
             f"{result['gap']:.3f} nats to the oracle, {result['bayes_gap']:.3f} to the Bayes predictor"]
    for title, key, fmt in (("d / lengthscale", "by_distance", "[{:g}, {:g})"), ("Nc", "by_context", "{:d}-{:d}")):
        lines.append(f"  {title:<18} share   gap  to Bayes  model sigma  oracle sigma  model |err|  oracle |err|")
        for g in result[key]:
            lo, hi = g["range"]
            span = fmt.format(lo, hi) if hi is not None else f">= {lo:g}"
            lines.append(f"  {span:<18} {g['share']:6.2f} {g['gap']:6.3f} {g['bayes_gap']:9.3f} "
                         f"{g['model_sigma']:12.4f} {g['oracle_sigma']:13.4f} {g['model_abs_error']:12.4f} "
                         f"{g['oracle_abs_error']:13.4f}")
    return "\n".join(lines)


def format_table(result: dict) -> str:
    lines = [f"|S| = {result['num_context']}: NLL gap to the oracle {result['gap']:.3f} nats per query "
             f"({result['num_functions']} functions x {result['num_queries']} queries)",
             "  d to nearest (x)      share   gap    model sigma  oracle sigma  model |err|  oracle |err|"]
    for g in result["groups"]:
        lo, hi = g["d"]
        span = f"[{lo:g}, {hi:g})" if hi is not None else f">= {lo:g}"
        lines.append(f"  {span:<20} {g['share']:6.2f} {g['gap']:7.3f} {g['model_sigma']:12.4f} {g['oracle_sigma']:13.4f}"
                     f" {g['model_abs_error']:12.4f} {g['oracle_abs_error']:13.4f}")
    return "\n".join(lines)


@ctrl_c_main()  # one line, status 130; the figure is written last
def main(argv: list[str] | None = None) -> None:
    p = OneLineParser(prog="python -m domains.polynomial.diagnose", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", metavar="checkpoint")
    # the defaults as the help shows them
    d = {name: " ".join(map(str, v)) if isinstance(v, list) else v for name, v in DEFAULTS.items()}
    p.add_argument("--levels", type=int, nargs="+", default=None,
                   help=f"|S| levels (default {d['levels']}; not for gp_tnp_*)")
    p.add_argument("--functions", type=int, default=None,
                   help=f"functions per level (default {d['functions']}; not for gp_tnp_*)")
    p.add_argument("--queries", type=int, default=None,
                   help=f"queries per function (default {d['queries']}; not for gp_tnp_*)")
    p.add_argument("--seed", type=int, default=None,
                   help=f"the functions' seed (default {d['seed']}; not for gp_tnp_*)")
    p.add_argument("--batches", type=int, default=None,
                   help=f"GP benchmark (gp_tnp_*): how many of its test batches of 16 (default {d['batches']}; "
                        "past the run's test_size, more functions of its test split's seed)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--figure", help="GP benchmark: write the gap and sigma against the distance, one line per "
                                    "checkpoint (labelled by its run folder and kernel), to this PNG")
    args = p.parse_args(argv)
    from pixeltransformer.errors import fail
    from pixeltransformer.loading import load_checkpoint, load_module

    try:
        check_arguments(args)
    except (ValueError, OSError) as err:
        fail(err)  # before any checkpoint is read or scored: a long run is not lost to a typo
    given = {name for name in ("levels", "functions", "queries", "seed", "batches") if getattr(args, name) is not None}
    for name, default in DEFAULTS.items():
        setattr(args, name, default if getattr(args, name) is None else getattr(args, name))
    args.levels = list(dict.fromkeys(args.levels))  # a level given twice is scored once, in the order given

    outputs, curves, modules, notes = [], {}, [], []
    try:
        # every checkpoint read and checked before any is scored: one of another kind does not cost the others' time
        for path in args.checkpoints:
            ckpt = load_checkpoint(path)  # read safely (tensors and plain types only)
            spec = (ckpt.get("hyper_parameters") or {}).get("spec")
            kind = spec.get("domain") if isinstance(spec, dict) else None
            if kind is not None and kind != "polynomial":  # before the module is built (it warned of a missing Domain)
                raise ValueError(f"{path}: a checkpoint of {kind}/{spec.get('dataset')}; the diagnosis reads models "
                                 f"of 1D functions (polynomial, gp_rbf, gp_matern, gp_periodic, gp_tnp_rbf, "
                                 f"gp_tnp_matern)")
            module = load_module(path, ckpt=ckpt)  # in eval mode
            tnp = is_protocol(module.spec)
            if tnp:
                try:
                    check_breakdown(module.spec.extra["kernel"])
                except ValueError as e:
                    raise ValueError(f"{path}: {e}") from None
            if not tnp:
                check_dense(module.spec, max(args.levels), args.queries)  # every level, before the first is scored
                if args.figure:
                    raise ValueError(f"--figure draws the GP benchmark breakdown; {path} is a "
                                     f"{module.spec.dataset} checkpoint")
                if (above := untrained_levels(module, args.levels, "levels" in given)) is not None:
                    notes.append(f"{path}: {above}")
            unused = sorted(given - ({"batches"} if tnp else {"levels", "functions", "queries", "seed"}))
            if unused:
                notes.append(f"{path}: a {module.spec.dataset} checkpoint; --{', --'.join(unused)} "
                             f"{'does' if len(unused) == 1 else 'do'} not apply to it")
            modules.append((path, module, tnp))
        for note in notes:  # once every checkpoint passed its checks: a refused run shows its error alone
            print(note, file=sys.stderr)
        for path, module, tnp in modules:
            if tnp:
                result = gp_gap_breakdown(module, args.batches, data_seed=run_data_seed(path))
                label = f"{run_label(path)}, {result['kernel']}"  # runs are named by their start time: say which data
                curves[label if label not in curves else f"{label} ({len(curves) + 1})"] = result["curve"]
                outputs.append({"checkpoint": path, **result} if args.json else f"{path}\n{format_gp_tables(result)}")
            else:
                results = [gap_by_distance(module, k, args.functions, args.queries, args.seed) for k in args.levels]
                outputs.extend([{"checkpoint": path, **r} for r in results] if args.json
                               else [f"{path}\n" + "\n".join(format_table(r) for r in results)])
    except (ValueError, OSError) as err:
        fail(err)  # one line, exit status 2
    print(json.dumps(outputs, indent=1) if args.json else "\n".join(outputs))
    if args.figure:
        print(f"wrote {figure_gap_by_distance(curves, args.figure, 'GP benchmark: where the gap is')}")


def check_arguments(args) -> None:
    """The counts must be at least 1 (a negative --levels sliced S from the end and printed a table for "|S| = -3";
    --functions 0 ended in a traceback), and --figure must be a PNG path whose folder can be made: checked before the
    checkpoints are scored, not after."""
    for name, values in (("--levels", args.levels), ("--functions", [args.functions]), ("--queries", [args.queries]),
                         ("--batches", [args.batches])):
        bad = [v for v in values or [] if v is not None and v < 1]
        if bad:
            raise ValueError(f"{name} must be >= 1, got {bad[0]}")
    if args.figure:
        figure = Path(args.figure)
        if figure.suffix.lower() != ".png":
            raise ValueError(f"--figure {args.figure}: the figure is a PNG; give a path ending in .png")
        made = missing_folders(figure.parent)
        why = unwritable(figure.parent)  # by writing a file there, as the figure will be
        remove_empty(made)  # made again when the figure is written: a refused or failed run leaves none behind
        if why is not None:
            raise OSError(f"--figure {args.figure}: {why}")


def untrained_levels(module, levels: list[int], given: bool) -> str | None:
    """The levels above the largest |S| the module's set sampler trained on, named with that maximum, as --levels
    where ``given``, else as the default levels; None if none. That maximum is model.sets.max_context whenever a
    level exceeds it: a grid_points sampler's cap of num_points binds only where max_context is larger, and there
    check_dense has refused every level above num_points (|S| + queries > num_points)."""
    trained = module.sampler.largest_context(module.spec.num_points)
    above = [str(k) for k in levels if k > trained]
    if not above:
        return None
    one = len(above) == 1
    named = "--levels" if given else f"the default {'level' if one else 'levels'}"
    return (f"{named} {listed(above)} {'exceeds' if one else 'exceed'} the largest |S| it trained on, {trained} "
            f"(model.sets.max_context): {'its' if one else 'their'} numbers are outside training")


def run_data_seed(checkpoint: str) -> int:
    """The data seed the run trained and was evaluated with: ``data.init_args.seed`` in the config.yaml of the run
    folder (runs/<domain>/<run>/checkpoints/x.ckpt); 0, the DataModule's default, where there is none."""
    import yaml

    config = Path(checkpoint).parent.parent / "config.yaml"
    if Path(checkpoint).parent.name != "checkpoints" or not config.is_file():
        print(f"{checkpoint}: no config.yaml in its run folder; scoring the test split of data seed 0", file=sys.stderr)
        return 0
    cfg = yaml.safe_load(config.read_text()) or {}
    data = cfg.get("data") or {}
    return int((data.get("init_args") or {}).get("seed", 0))


def run_label(checkpoint: str) -> str:
    """runs/<domain>/<run>/checkpoints/x.ckpt -> <run> (else the file's name)."""
    p = Path(checkpoint)
    return p.parent.parent.name if p.parent.name == "checkpoints" else p.stem


if __name__ == "__main__":
    main()
