"""SdfDomain: the SDF domain's side of the core's contract. Pictures of completed shapes (the paper's Fig. 8 with
.glb/.obj meshes), shape metrics of the |S| sweep against interpolation baselines (section 6.2), and a user's
mesh or SDF grid for `pixeltransformer predict`. S lies at continuous positions, read trilinearly."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from pixeltransformer.cache import cache_root
from pixeltransformer.domain import Domain, Files, ItemValues, level_title
from pixeltransformer.evaluation import masked_mean
from pixeltransformer.files import atomic_write, write_json

from .baselines import rbf_interpolate
from .mesh import MESH_SUFFIXES, file_kind, neither_held
from .mesh_cache import SDFCache
from .metrics import METRIC_NOTES, PLOT_GROUPS, iou_summary, shape_metrics
from .procedural import MARGIN
from .surface import probability_field
from .visualize import MESH_FORMATS, shape_pictures, truth_meshes
from .voxels import (binvox_frame, check_real, read_voxels, turn_y_up, voxel_padding, voxel_scale, voxels_to_sdf,
                     zup_to_yup)


GRID_UNITS = ("none: the file is a grid, read as the cube [-1, 1]^3 itself (grid point i at -1 + 2 i / (R - 1), "
              "turned y up as the file was)")


def frame_record(centre: np.ndarray, scale: float, units: str) -> dict:
    """prediction.json's input_frame: cube = (x - centre) * scale, x in ``units`` (after the turn to y up, where the
    file was turned), so x = centre + cube / scale puts a completion back on the input."""
    return {"centre": [round(float(c), 9) + 0.0 for c in centre], "scale": float(f"{scale:.9g}"), "units": units}


def truncation_of(spec) -> float:
    """t of a spec whose values lie in [-t, t]."""
    return float(spec.extra.get("truncation", spec.val_range[1]))


def voxel_units(size: int, margin: float | None) -> str:
    """input_frame's units of a voxel grid D^3 (D = ``size``) without a frame of its own: its grid's cube, padded as
    :func:`voxels.voxels_to_sdf` pads it for the model's ``margin`` (None: not padded)."""
    padded = ("not padded, as the training voxels of a model from before voxel padding were" if margin is None else
              f"padded with {voxel_padding(size, margin)} empty voxels a face as the training voxels were")
    return (f"the voxel grid's: the cube [-1, 1]^3 with voxel i's centre on -1 + 2 i / ({size} - 1), turned y up as "
            f"the file was, {padded}")


def occupancy_sdf(occ: np.ndarray, path: Path, spec) -> np.ndarray:
    """An occupancy grid [D, D, D] (bool, True = inside) -> its SDF [R, R, R] on the model's grid, padded to the
    training data's margin as the training voxels were (:func:`voxels.voxels_to_sdf`, :func:`voxel_margin`); a grid
    without a surface names the file."""
    try:
        return voxels_to_sdf(occ, spec.grid_shape[0], voxel_margin(spec))  # [R, R, R]
    except ValueError as e:
        raise ValueError(f"{path}: {str(e).removeprefix('voxels_to_sdf: ')}") from None


def is_occupancy(grid: np.ndarray) -> bool:
    """Whether a grid (or a stack of them) holds occupancy, only 0 and 1 (ModelNet's voxels, a binvox export), not
    SDF values."""
    return grid.dtype == np.bool_ or bool(np.isin(grid, (0, 1)).all())


def several_shapes_refusal(path: Path, n: int, grids: str) -> ValueError:
    """The refusal of an --input file that holds n grids (``grids``: "voxel grids", "SDF grids"), not one shape."""
    return ValueError(f"{path}: holds {n} {grids}; --input completes one shape: save the one to complete as .npy "
                      "[R, R, R] (an SDF grid, or voxels of 0 and 1) or as a file of one grid")


def voxel_margin(spec) -> float | None:
    """The margin the model's training voxels were padded to (spec.extra["margin"]); None for a model trained
    before the spec held it, whose training voxels were not padded (their grid was the cube), as its inputs then are
    not."""
    margin = spec.extra.get("margin")
    return None if margin is None else float(margin)


def surface_slope(grid: np.ndarray) -> float | None:
    """How fast an SDF grid [R, R, R] changes across its surface: the median |difference| of neighbouring grid points
    of opposite signs, in grid spacings (2 / (R - 1)). A distance in the cube [-1, 1]'s units changes by at most one
    spacing between them; None when the grid has no surface."""
    inside = grid < 0  # [R, R, R]
    steps = [np.abs(np.diff(grid, axis=a))[np.diff(inside, axis=a)] for a in range(3)]  # each [crossings along a]
    steps = np.concatenate(steps)  # [M]
    return float(np.median(steps)) * (grid.shape[0] - 1) / 2 if len(steps) else None


# what check_units says of a grid without a surface: its side, the likely cause and what to give instead
EMPTY_GRID = ("positive (outside): the shape is empty; give signed distances, negative inside (unsigned ones, or ones "
              "clipped at 0, have no inside; a shape thinner than the grid's spacing falls between its points)")
FULL_GRID = ("negative (inside): the cube is full; give a grid over the cube [-1, 1]^3 that the whole shape lies "
             "inside of, with room around it (a shape larger than the cube, or a grid over a part within it, has no "
             "outside)")


def check_units(grid: np.ndarray, path: Path, t: float) -> None:
    """Warn about an SDF grid [R, R, R] whose values cannot be distances in the cube [-1, 1]'s units (voxel units,
    a -1/+1 sign field), which the clip to [-t, t] would turn into another shape's band, one with no surface, and one
    inside out (positive inside: negative on all of the cube's border, which a shape inside the cube is outside of)."""
    slope = surface_slope(grid)
    if slope is None:
        side = EMPTY_GRID if grid.min() >= 0 else FULL_GRID
        warnings.warn(f"{path}: the SDF grid has no surface, every value is {side}, or the shape's mesh, which --input "
                      "centres and scales into the cube and converts", stacklevel=3)
    elif np.concatenate([np.moveaxis(grid, a, 0)[[0, -1]].ravel() for a in range(3)]).max() < 0:
        warnings.warn(f"{path}: the SDF grid is negative (inside) all over the cube's border, its surface inside: "
                      f"this domain's SDFs are negative inside and positive outside; if the grid's convention is "
                      f"positive inside, it reads inside out: negate it", stacklevel=3)
    elif slope > 2:
        warnings.warn(f"{path}: across its surface the SDF grid changes by {slope:.3g} grid spacings per spacing, a "
                      f"distance in the cube [-1, 1]'s units by at most 1: its values look like other units (voxels: "
                      f"divide by {(grid.shape[0] - 1) / 2:g}); they are read as cube units, clipped to +-{t:g}",
                      stacklevel=3)


# files whose up axis is y or z, as a line that names input_up_axis for a file of the other says
UP_AXIS_EXAMPLES = {1: "ShapeNet's", 2: "ModelNet's, many scans and CAD exports"}
TRAINED_ON = {"procedural": "procedural chairs, y up", "meshes": "meshes", "voxels": "voxel files",
              "mixture": "a mixture"}  # a mixture's spec records no sources


def trained_on(spec) -> str:
    """What a model's data was, in words, for an --input line that names no training files it never read."""
    return TRAINED_ON.get(spec.dataset, spec.dataset)
TURNED = "turned from z up to y up (input_up_axis 2)"  # how an --input file given input_up_axis 2 was read


class SdfDomain(Domain):
    """Truncated SDFs of 3D shapes.

    Args:
        formats: mesh files written by the pictures and by predict (glb and/or obj).
        rbf: the sweep also scores the biharmonic RBF fit of S (a dense (K+4)^2 solve per shape and level).
        chamfer_points: surface points per mesh for Chamfer-L1.
        input_up_axis: the axis that is up in a predict --input file or --context rows: 1 (y) or 2 (z, as ModelNet's
            models, many scans and CAD exports), turned y up before the model reads it; null: as the model's own
            training files were (its data's mesh_up_axis for a mesh, voxel_up_axis for voxels, y up for an SDF grid
            and for rows); the axis a mesh or voxels are read with is then said, with this option for the other.
    """

    name = "sdf"
    row_names = ("x", "y", "z", "sdf")
    verdict_keys = ("iou_mean_beats_nn_at", "iou_model_beats_baselines_at")  # iou_summary's
    on_grid = False
    input_help = (f"a mesh ({', '.join(MESH_SUFFIXES)}), an SDF grid (.npy, [R, R, R]) or voxels (.binvox; .npy, "
                  f".npy.gz or .npz of one grid of 0 and 1)")

    def __init__(self, formats: Sequence[str] = MESH_FORMATS, rbf: bool = True, chamfer_points: int = 10000,
                 input_up_axis: int | None = None):
        bad = [f for f in formats if f not in MESH_FORMATS]
        if bad or not formats:
            raise ValueError(f"SdfDomain: formats must be a non-empty subset of {MESH_FORMATS}, got {list(formats)}")
        if chamfer_points < 1:
            raise ValueError(f"SdfDomain: chamfer_points must be >= 1, got {chamfer_points}")
        if input_up_axis not in (None, 1, 2):
            raise ValueError(f"--model.domain.init_args.input_up_axis must be 1 (y up) or 2 (z up), got {input_up_axis}")
        self.formats, self.rbf, self.chamfer_points = tuple(formats), rbf, chamfer_points
        self.input_up_axis = input_up_axis
        self.input_frame: dict | None = None  # where the cube of the last --input lies in its file's units
        self.up_note: str | None = None  # the up axis the last --input was read with, where not given (up_axis)

    # ---- pictures: Fig. 8 per shape and |S| ------------------------------------------------------------
    def pictures(self, completions, out_dir: Path, suffix: str = "") -> Files:
        """Per shape and context: the figure (truth, S, samples, mean, P(inside) > 0.5) and its meshes, in
        out_dir/<step>/ during training (suffix "_step<N>") and out_dir itself at the end of a test; each shape's
        truth, which never changes during a fit, in out_dir itself, as shape<i>_gt.<format> (rewritten at each call).
        The meshes it returns: the completions' per shape and context, the truth's once per shape
        (:meth:`fixed_picture`)."""
        out = Path(out_dir) / suffix.strip("_") if suffix else Path(out_dir)
        figures, meshes, truths, t = [], {}, {}, truncation_of(self.spec)
        for k, c in completions.items():
            prob = c.prob_below(0.0)  # [B, R, R, R]
            for i in range(c.mean.shape[0]):
                draws = [] if c.samples is None else list(c.samples[i, :, 0].numpy())  # S x [R, R, R]
                gt = None if c.signal is None else c.signal[i, 0].numpy()  # [R, R, R]
                one = c[i]
                if gt is not None and i not in truths:  # the same at every |S|
                    truths[i] = truth_meshes(gt, Path(out_dir) / f"shape{i}_gt", self.formats)
                    meshes[f"shape{i}_gt_mesh"] = truths[i][0]
                figure, files = shape_pictures(  # the sample columns: only N' of their values drawn, where it applies
                    out, f"shape{i}_S{k}_", gt, c.ctx_pos[i].numpy(), c.ctx_val[i].numpy(), c.mean[i, 0].numpy(),
                    draws, t, self.formats, title=one.titled(level_title(one, suffix)), prob_grid=prob[i].numpy(),
                    gt_files=truths.get(i))
                figures.append(figure)
                meshes[f"shape{i}_S{k}_meshes"] = [paths[0] for name, paths in files.items() if name != "gt"]
        return {"sdf_samples": figures, **meshes}

    def fixed_picture(self, name: str) -> bool:
        """A shape's ground-truth mesh (shape<i>_gt_mesh), the val shape's own at every validation."""
        return name.endswith("_gt_mesh")

    # ---- the |S| sweep ----------------------------------------------------------------------------------
    def metrics(self, item) -> dict[str, torch.Tensor]:
        """IoU, Chamfer-L1 and vanished fraction (see metrics.py) of the mean, of P(SDF < 0 | S) > 0.5 (a bimodal
        inside/outside prediction pulls the mean towards +t while P(inside) can still exceed 0.5), of the
        samples, of the nearest-neighbour fill and of the RBF fit of S; and the RBF's MSE. The mean keeps S's values
        at the grid points S lies on (with S at grid points), as the pictures' and predict's mean (complete) does."""
        grid = item.as_grid
        p_inside = item.prob_below(0.0).unsqueeze(-1)  # [B, Q, 1]
        preds = {"mean": grid(item.mean)[:, 0], "prob": probability_field(grid(p_inside)[:, 0]),
                 "nn": grid(item.nn)[:, 0]}  # [B, R, R, R] each
        out = {}
        if self.rbf:
            t = truncation_of(item.spec)
            rbf = rbf_interpolate(item.ctx_pos, item.ctx_val, item.qry_pos).clamp(-t, t)  # [B, Q, 1]
            out["rbf_mse"] = masked_mean(((rbf - item.qry_val) ** 2).mean(-1), item.held_out)  # [B]: not in S, as mse
            preds["rbf"] = grid(rbf)[:, 0]
        if item.samples is not None:
            preds["sample"] = grid(item.samples)[:, :, 0]  # [B, S, R, R, R]; NaN rows: not sampled
        out.update(shape_metrics(item.signal[:, 0], preds, self.chamfer_points, seed=7 * item.num_context))
        return out

    def plot_groups(self) -> dict[str, list[str]]:
        return PLOT_GROUPS

    def method_names(self) -> dict[str, str]:
        return {**super().method_names(), "prob": "model, P(inside) > 0.5", "rbf": "RBF fill"}

    def summary(self, rows: list[dict], items: ItemValues | None = None) -> dict:
        return {**iou_summary(rows, items), "metric_notes": METRIC_NOTES}

    # ---- predict ----------------------------------------------------------------------------------------
    def read_input(self, path: Path, spec) -> torch.Tensor:
        """A mesh (turned y-up as the training data's meshes were, mesh_up_axis, then normalised and converted like
        them, through the SDF cache, on the model's grid), an SDF grid .npy [R, R, R] (its own size, in the normalised
        cube's units, y up), or voxels: a .binvox file or a .npy occupancy grid of 0 and 1 (on the model's grid, turned
        y-up as the training data's voxel files were, voxel_up_axis) -> [1, R, R, R] in [-t, t]. ``input_up_axis``,
        where given, says which axis is up in the file instead. A mesh's box is centred and scaled into the cube (with
        the training data's margin, spec.extra["margin"]: see procedural.grid_margin), as the training meshes were; the
        map is said on stderr and kept in ``input_frame`` (prediction.json), as a .binvox file's is (from its header's
        translate and scale, :func:`voxels.binvox_frame`). Voxels are padded with empty voxels to the training data's
        margin as the training voxels were, then resampled to the model's grid (:func:`voxels.voxels_to_sdf`); their
        input_frame holds that scale. An SDF grid (.npy) has no units but its grid's: its input_frame says so, with
        centre 0 and scale 1 (the file's grid is the cube); an occupancy grid's (.npy, .npy.gz, .npz) is its grid's
        cube, padded."""
        t = truncation_of(spec)
        # the core called start_prediction already; read_input called alone (from Python, or on one domain for
        # several files, as the tests do) needs it too: input_frame and up_note are set below only where this file
        # has them, and a frame or note left by an earlier file would be recorded and printed as this one's
        self.start_prediction()
        name, suffix = path.name.lower(), path.suffix.lower()
        kind, arrays = file_kind(path)  # the data roots' rule, an .npz's index read once
        if kind == "neither":  # an .npz of SDF samples, say: no reader reads it, as the data roots refuse it
            samples = ("; give SDF samples as --context rows [x, y, z, sdf] (a .json file: "
                       "json.dump(np.c_[points, sdf].tolist(), f))") if "sdf" in map(str.lower, arrays) else ""
            raise ValueError(f"{path}: {neither_held(arrays)}{samples}")
        voxels = kind == "voxels"  # .npy, .npy.gz, .binvox, an .npz of voxel grids
        if voxels and not name.endswith((".npy", ".binvox")):
            # a stack of the kind training reads (ModelNet's [N, 1, R, R, R]: .npy.gz, .npz), holding one shape
            up = self.up_axis(spec, "voxel_up_axis", 2, "voxel files", path)
            grids = read_voxels(path, up)  # [N, R, R, R]
            if len(grids) != 1:
                raise several_shapes_refusal(path, len(grids), "voxel grids")
            grid = occupancy_sdf(grids[0], path, spec)  # [R, R, R]
            self.input_frame = frame_record(np.zeros(3), voxel_scale(grids.shape[1], voxel_margin(spec)),
                                            voxel_units(grids.shape[1], voxel_margin(spec)))
            print(f"{path}: voxels, converted to an SDF with 1 = inside{self.turned()}, padded to the training "
                  f"margin", file=sys.stderr)
        elif voxels and name.endswith(".npy"):
            try:
                grid = np.load(path)
            except (OSError, ValueError, EOFError) as e:  # EOFError: an empty file
                raise ValueError(f"{path}: not a readable .npy file ({type(e).__name__}: {e})") from None
            stacked = (grid.ndim == 5 and grid.shape[1] == 1) or (grid.ndim == 4 and len(set(grid.shape[1:])) == 1)
            if stacked and grid.shape[0] > 1:  # a training voxel stack [N, 1, R, R, R], [N, R, R, R] or cached SDFs
                raise several_shapes_refusal(path, grid.shape[0], "voxel grids" if is_occupancy(grid) else "SDF grids")
            if grid.ndim == 5 and grid.shape[:2] == (1, 1):  # one grid of a training voxel stack [N, 1, R, R, R]
                grid = grid[0, 0]
            if grid.ndim == 4 and grid.shape[0] == 1:
                grid = grid[0]
            if grid.ndim != 3 or len(set(grid.shape)) != 1 or grid.shape[0] < 2:
                raise ValueError(f"{path}: expected a cubic SDF grid [R, R, R], got shape {grid.shape}")
            check_real(grid, path, "the SDF grid")
            if is_occupancy(grid):
                # an occupancy grid (ModelNet's voxels, a binvox export): 1 = inside, converted and turned as the
                # model's voxel files were (voxel_up_axis), like a .binvox input
                up = self.up_axis(spec, "voxel_up_axis", 2, "voxel files", path)
                occ = grid.astype(bool)  # [D, D, D]
                self.input_frame = frame_record(np.zeros(3), voxel_scale(len(occ), voxel_margin(spec)),
                                                voxel_units(len(occ), voxel_margin(spec)))
                grid = occupancy_sdf(zup_to_yup(occ) if up == 2 else occ, path, spec)  # [R, R, R]
                padded = "not padded (as trained)" if voxel_margin(spec) is None else "padded to the training margin"
                print(f"{path}: an occupancy grid (only 0 and 1), converted to an SDF with 1 = inside"
                      f"{self.turned()}, {padded}", file=sys.stderr)
            elif self.input_up_axis == 2:
                grid = zup_to_yup(grid)  # [R, R, R]
                print(f"{path}: {TURNED}", file=sys.stderr)
            if not np.isfinite(grid).all():
                raise ValueError(f"{path}: the SDF grid must hold finite numbers (or be an occupancy grid of 0 and 1)")
            check_units(grid, path, t)
        elif voxels:  # a .binvox file
            up = self.up_axis(spec, "voxel_up_axis", 2, "voxel files", path)
            occ = read_voxels(path, up)[0]  # [D, D, D]
            grid = occupancy_sdf(occ, path, spec)  # [R, R, R]
            if self.input_up_axis == 2:
                print(f"{path}: {TURNED}", file=sys.stderr)
            if (placed := binvox_frame(path, up, voxel_margin(spec))) is not None:
                self.input_frame = frame_record(*placed, "the model's, from the .binvox header's translate and scale")
                print(f"{path}: its header places the grid in the model's units: cube = "
                      f"({'turned ' * (up == 2)}x - centre) * scale, centre {self.input_frame['centre']}, scale "
                      f"{self.input_frame['scale']:.6g} (prediction.json's input_frame); S and the meshes written are "
                      f"in the cube's units", file=sys.stderr)
            else:
                self.input_frame = frame_record(np.zeros(3), voxel_scale(len(occ), voxel_margin(spec)),
                                                voxel_units(len(occ), voxel_margin(spec)) + " (the .binvox header "
                                                "holds no usable translate and scale)")
                padded = " padded to the training margin" * (voxel_margin(spec) is not None)
                print(f"{path}: its header holds no usable translate and scale: S and the meshes written are in the "
                      f"cube [-1, 1]^3 of its grid{padded}", file=sys.stderr)
        elif suffix in MESH_SUFFIXES:
            # a model trained before the option has no mesh_up_axis: y-up meshes
            up = self.up_axis(spec, "mesh_up_axis", 1, "training meshes", path)
            # the margin the training meshes had (a model trained before the spec held it: 0.05, every grid's then)
            cache = SDFCache(cache_root("sdf", "meshes"), margin=float(spec.extra.get("margin", MARGIN)), truncation=t,
                             shell_voxels=float(spec.extra.get("shell_voxels", 0.75)), up_axis=up)
            centre, scale = cache.frame(path)  # [3], float; first: a mesh of no volume is refused unconverted
            grid = cache.grid(path, spec.grid_shape[0])  # [R, R, R]
            if self.input_up_axis == 2:
                print(f"{path}: {TURNED}", file=sys.stderr)
            self.input_frame = frame_record(centre, scale, "the mesh file's")
            shapes = {"procedural": " as the procedural training chairs were", "meshes": " as the training meshes "
                      "were"}.get(spec.dataset, f" (it was trained on {trained_on(spec)})")  # no meshes of its own
            print(f"{path}: centred and scaled into the cube [-1, 1]^3{shapes}: cube = "
                  f"({'turned ' * (up == 2)}x - centre) * scale, centre {self.input_frame['centre']}, scale "
                  f"{self.input_frame['scale']:.6g} (prediction.json's input_frame); S and the meshes written are in "
                  f"the cube's units", file=sys.stderr)
        elif suffix == ".json":
            raise ValueError(f"{path} is a context, not a shape: pass it as --context {path}")
        else:
            raise ValueError(f"{path}: unsupported input {suffix!r}; expected {self.input_help}")
        if self.input_frame is None:  # a grid: no units but its own
            self.input_frame = frame_record(np.zeros(3), 1.0, GRID_UNITS)
        if self.up_note is not None:
            print(self.up_note, file=sys.stderr)
        return torch.from_numpy(np.clip(grid.astype(np.float32), -t, t)).unsqueeze(0)  # [1, R, R, R]

    def start_prediction(self) -> None:
        """The frame and up-axis note of an earlier prediction's --input forgotten: --context rows alone record none."""
        self.input_frame = self.up_note = None

    def input_options(self) -> dict:
        frame = {} if self.input_frame is None else {"input_frame": self.input_frame}
        return {"input_up_axis": self.input_up_axis, **frame}

    def up_axis(self, spec, option: str, default: int, files: str, path: Path) -> int:
        """The axis that is up in an --input file of a kind: input_up_axis where given, else the data
        option the model's training ``files`` of that kind were read with (``option``, recorded in its spec). A file
        has no up axis of its own to read: where input_up_axis is not given, ``up_note`` says the axis taken, with the
        option that takes the other (read_input prints it once the file is read), as a z-up mesh read y up was
        completed lying on its back without a word."""
        if self.input_up_axis is not None:
            return self.input_up_axis
        up = int(spec.extra.get(option, default))
        read_by = {"training meshes": "meshes", "voxel files": "voxels"}[files]  # the dataset that reads them
        why = (f"as the model's {files} were ({option} {up})" if spec.dataset == read_by  # else no files of its own
               else f"by the model's {option} {up} (it was trained on {trained_on(spec)})")
        other = 3 - up  # 1 (y) <-> 2 (z)
        read = "turned from z up to y up" if up == 2 else "read with y up"  # the turn said here alone (turned)
        self.up_note = (f"{path}: {read}, {why}; a file with {'yz'[other - 1]} up ({UP_AXIS_EXAMPLES[other]}) needs "
                        f"--model.domain.init_args.input_up_axis={other}, or it is completed lying on its back")
        return up

    def turned(self) -> str:
        """The turn, for a line that says how an --input file was read (", turned from z up to y up (input_up_axis
        2)"), where input_up_axis was given (else ``up_note`` says the axis taken); else ""."""
        return f", {TURNED}" if self.input_up_axis == 2 else ""

    def context_from_rows(self, rows: torch.Tensor, spec, source: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows [x, y, z, sdf]: positions in the cube [-1, 1]^3, y up (turned from z up under input_up_axis 2); an SDF
        beyond the truncation is clamped to [-t, t], as the training data is (a distance of 0.3 says "outside,
        farther than t")."""
        # checked as the user wrote them (a refusal names their numbers), then turned
        pos, val = super().context_from_rows(torch.cat([rows[:, :3], self.context_values(rows[:, 3:], spec)], dim=1),
                                             spec, source)  # [K, 3], [K, 1]
        if self.input_up_axis == 2:  # rows of a z-up scan, turned as a z-up --input file is
            pos = torch.from_numpy(turn_y_up(pos.numpy(), 2)) + 0.0  # [K, 3]; + 0.0: no -0.0 in context.json
            print(f"{source}: {TURNED}", file=sys.stderr)
        return pos, val

    def row_units(self, spec) -> str:
        """Rows [x, y, z, sdf] in words: positions in the cube, not on a grid, the axis up they are read with, the
        sdf's sign and its clamp at the truncation (:meth:`context_values`)."""
        up = ("z up, turned y up (input_up_axis 2)" if self.input_up_axis == 2 else
              "y up (--model.domain.init_args.input_up_axis=2 reads rows of z up)")
        return (f"an SDF row is [x, y, z, sdf]: x, y, z in the cube [-1, 1]^3 with {up}, and sdf negative inside and "
                f"positive outside, a distance beyond +-{truncation_of(spec):g} (the truncation t) clamped to it")

    def context_values(self, values: torch.Tensor, spec) -> torch.Tensor:
        """SDF values of a user's S [..., 1] clamped to [-t, t], as the training data is: a distance beyond the
        truncation says "farther than t" on its side of the surface. `predict --context` rows and the Python calls
        (m.complete, m.sample, ...) read S alike."""
        t = truncation_of(spec)
        return values.clamp(-t, t)  # [..., 1]

    def write_prediction(self, completion, out_dir: Path) -> list[Path]:
        """context.json (S), mean_sdf.npy, figure.png (Fig. 8), and mean, sample<i>, prob (P(inside) > 0.5) and,
        with an input shape, gt meshes in every format, each with a PNG render."""
        c, k = completion, completion.ctx_pos.shape[1]
        ctx_pos, ctx_val, mean = c.ctx_pos[0], c.ctx_val[0], c.mean[0, 0].numpy()  # [K, 3], [K, 1], [R, R, R]
        files = [write_json(out_dir / "context.json", torch.cat([ctx_pos, ctx_val], dim=1).tolist()),
                 atomic_write(out_dir / "mean_sdf.npy", lambda tmp: np.save(tmp, mean))]
        figure, meshes = shape_pictures(
            out_dir, "", None if c.signal is None else c.signal[0, 0].numpy(), ctx_pos.numpy(), ctx_val.numpy(),
            mean, [] if c.samples is None else list(c.samples[0, :, 0].numpy()), truncation_of(self.spec),
            self.formats, renders=True, title=c.titled(f"{out_dir.name}: |S| = {k}"),
            prob_grid=c.prob_below(0.0)[0].numpy())
        return [*files, figure, *(p for paths in meshes.values() for p in paths)]
