"""Pictures of SDF grids and meshes: pure functions (arrays in, files out), no metrics, no logger, no model.

Grids follow the domain convention: grid point (i, j, k) of an R^3 grid sits at -1 + 2 (i, j, k) / (R - 1)
and array axis a holds coordinate a, with y (axis 1) up and the shapes facing +z. Renders draw on
matplotlib's Agg canvas directly (no pyplot, no global backend switch, safe off the main thread) with one
fixed camera, so pictures of different shapes and epochs compare directly.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.image
import mpl_toolkits.mplot3d  # noqa: F401  (registers the "3d" projection)
import numpy as np
import trimesh
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import proj3d
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from pixeltransformer.errors import counted
from pixeltransformer.files import atomic_write

from .surface import export_mesh, probability_field, sdf_to_mesh

ELEV, AZIM = 20.0, -55.0  # camera: slightly above, looking at the front-right of a +z-facing shape
BASE_COLOUR = np.array([0.62, 0.72, 0.86])
MESH_FORMATS = ("glb", "obj")
PROB_TITLE = "P(SDF < 0 | S) > 0.5"  # the 0.5 level set of the probability of inside, as the README writes it
EXTENT = 1.0  # every shape lies in the cube [-EXTENT, EXTENT]^3 (the grid's positions)
# The camera's zoom: the largest (to 2 decimals, rounded down) at which the projections of the cube's 8 corners lie
# in every panel with 2% of its side to spare (S's markers are a few pixels wide). A shape in the cube lies in the
# corners' convex hull, whose projection is the hull of theirs: no shape in the cube is cropped. At this camera
# the bottom corner comes closest to its edge. 1.3 drew corners up to 7% of a panel beyond it, cutting chairs' legs.
ZOOM = 1.1
# Layout: panels in a grid of at most MAX_COLUMNS columns, so that a figure shrunk into a ~600 px wide W&B media
# panel keeps its titles and colour key readable (the fonts are ~10 px high there at 4 columns). Sizes in inches
# at 100 dpi, fonts in points.
MAX_COLUMNS = 4
TITLE_SIZE, SUPTITLE_SIZE, KEY_SIZE = 13, 14, 12
TITLE_ROOM, SUPTITLE_ROOM, KEY_ROOM = 0.35, 0.4, 0.7  # above each row, above the figure, below S's row
SUPTITLE_LINE = 0.25  # each further line of the figure's title


def _np(x, dtype=np.float32) -> np.ndarray:
    """numpy view of an array or a (possibly GPU) tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


# ---- rendering --------------------------------------------------------------------------------------


def _to_plot(points: np.ndarray) -> np.ndarray:
    """Shape coordinates (x, y up, z) -> matplotlib's (X, Y, Z up): a proper rotation, so no mirroring."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def _setup_axis(ax, title: str | None) -> None:
    ax.set_xlim(-EXTENT, EXTENT)
    ax.set_ylim(-EXTENT, EXTENT)
    ax.set_zlim(-EXTENT, EXTENT)
    ax.set_box_aspect((1, 1, 1), zoom=ZOOM)
    ax.view_init(elev=ELEV, azim=AZIM)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE, pad=4)


def cube_corners_in_axes(ax) -> np.ndarray:
    """Where the 8 corners of the cube [-EXTENT, EXTENT]^3 fall in a drawn 3D panel, as fractions of its axes (0..1
    inside): [8, 2]. Call after the figure was drawn (the panel's size and projection are set then)."""
    corners = np.array(list(itertools.product([-EXTENT, EXTENT], repeat=3)))  # [8, 3], matplotlib's order
    x, y, _ = proj3d.proj_transform(*corners.T, ax.get_proj())  # each [8]
    return ax.transAxes.inverted().transform(ax.transData.transform(np.stack([x, y], axis=1)))  # [8, 2]


def _view_dir() -> np.ndarray:
    e, a = np.deg2rad(ELEV), np.deg2rad(AZIM)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def draw_mesh(ax, mesh: trimesh.Trimesh, title: str | None = None) -> None:
    """Draw one mesh into a matplotlib 3D axis with two-sided Lambert shading."""
    _setup_axis(ax, title)
    if mesh is None or len(mesh.faces) == 0:
        ax.text2D(0.5, 0.5, "(empty)", transform=ax.transAxes, ha="center", va="center", color="grey")
        return
    tris = _to_plot(np.asarray(mesh.vertices)[np.asarray(mesh.faces)])  # [F, 3, 3]
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])  # [F, 3]
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    light = _view_dir() + np.array([-0.3, 0.0, 0.8])
    light /= np.linalg.norm(light)
    # Two-sided: real meshes are often not consistently oriented.
    shade = 0.35 + 0.65 * np.abs(normals @ light)  # [F]
    colours = np.clip(shade[:, None] * BASE_COLOUR, 0, 1)  # [F, 3]
    ax.add_collection3d(Poly3DCollection(tris, facecolors=colours, edgecolors="none", linewidths=0))


def draw_context_points(ax, ctx_pos: np.ndarray, ctx_val: np.ndarray, title: str | None = None,
                        vmax: float | None = None) -> None:
    """Draw context samples [K, 3] as markers coloured by their SDF value [K] (red = larger, blue = inside,
    symmetric around 0 up to vmax, default max |value|)."""
    ctx_pos = _np(ctx_pos, np.float64).reshape(-1, 3)  # [K, 3]
    ctx_val = _np(ctx_val, np.float64).reshape(-1)  # [K]
    if len(ctx_pos) != len(ctx_val):
        raise ValueError(f"draw_context_points: {len(ctx_pos)} positions but {len(ctx_val)} values")
    _setup_axis(ax, title)
    if len(ctx_pos) == 0:
        return
    vmax = vmax or float(np.abs(ctx_val).max()) or 1.0
    pts = _to_plot(ctx_pos)
    size = float(np.clip(400.0 / np.sqrt(len(pts)), 1.0, 40.0))  # fewer points -> bigger markers
    colours = matplotlib.colormaps["coolwarm"](Normalize(-vmax, vmax)(ctx_val))  # [K, 4]
    # Points at the positive truncation bound (empty space) are most of S; fade them so the shape shows.
    colours[ctx_val >= 0.98 * vmax, 3] = 0.25
    ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], c=colours, s=size, depthshade=False, edgecolors="none")
    context_colour_key(ax, vmax)


def context_colour_key(ax, vmax: float):
    """A colour bar under S's panel: the SDF values of the colours, -vmax (inside) to +vmax (outside; points at
    +vmax, empty space, are drawn faded). Returns the bar's axis."""
    from matplotlib.cm import ScalarMappable

    # below the panel, outside the cube's projection (KEY_ROOM leaves the room for it and its labels)
    side = ax.get_position().height * ax.figure.get_figheight()  # the panel's side in inches
    key = ax.inset_axes((0.15, -0.22 / side, 0.7, 0.12 / side))
    bar = ax.figure.colorbar(ScalarMappable(Normalize(-vmax, vmax), matplotlib.colormaps["coolwarm"]), cax=key,
                             orientation="horizontal")
    bar.set_ticks([-vmax, 0.0, vmax], labels=[f"{-vmax:.2g} in", "0", f"{vmax:.2g} out"])
    key.tick_params(labelsize=KEY_SIZE, length=2, pad=1)
    bar.set_label("SDF of S's points", fontsize=KEY_SIZE, labelpad=1)
    return key


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Figure, path: str | Path | None) -> np.ndarray:
    """Rasterise the figure: RGB [H, W, 3] uint8, also written as PNG when a path is given."""
    fig.canvas.draw()
    return _drawn(fig, path)


def _drawn(fig: Figure, path: str | Path | None) -> np.ndarray:
    """What the figure's canvas holds now (drawn, not drawn again: panels drawn one at a time by :func:`_draw_once`
    keep no polygons to draw again): RGB [H, W, 3] uint8, also written as PNG when a path is given."""
    rgba = np.asarray(fig.canvas.buffer_rgba())  # [H, W, 4]
    if path is not None:
        # origin "upper" whatever a matplotlibrc's image.origin says: the canvas's rows, top first
        atomic_write(path, lambda tmp: matplotlib.image.imsave(tmp, rgba, format="png", dpi=fig.dpi, origin="upper"))
    return rgba[..., :3].copy()


def _draw_once(ax, mesh: trimesh.Trimesh) -> None:
    """Draw a mesh into a panel of a figure whose canvas was drawn with the panel empty, and drop its polygons: the
    canvas keeps the picture, nothing keeps the mesh (matplotlib's polygons of a mesh of 190k faces held ~100 MB
    while the figure was drawn, each mesh of a figure at once)."""
    ax.title.set_visible(False)  # drawn with the empty panel; twice would darken its edges
    draw_mesh(ax, mesh)
    ax.figure.draw_artist(ax)
    for artist in [*ax.collections, *ax.texts]:
        artist.remove()
    ax.title.set_visible(True)


def panel_grid(n: int) -> tuple[int, int]:
    """Rows and columns of a figure of n panels, filled row by row: as few rows as MAX_COLUMNS columns allow, but
    two from 4 panels on (no strip), the panels spread evenly over them: 3 -> 1 x 3, 4 -> 2 x 2, 5 and 6 -> 2 x 3,
    7 and 8 -> 2 x 4, 9 -> 3 x 3."""
    if n < 1:
        raise ValueError(f"panel_grid: a figure needs at least one panel, got {n}")
    rows = max(math.ceil(n / MAX_COLUMNS), 2 if n >= 4 else 1)
    return rows, math.ceil(n / rows)


def panel_axes(n: int, size: float, title: str | None = None, key_under: int | None = None) -> tuple[Figure, list]:
    """A figure of n square 3D panels of ``size`` inches in the grid of :func:`panel_grid`, in reading order, with
    room above each row for the panels' titles, above all for the figure's ``title`` (a line each) and
    below the panel ``key_under`` for S's colour key. Returns the figure and its panels."""
    rows, cols = panel_grid(n)
    key_row = None if key_under is None else key_under // cols
    head = SUPTITLE_ROOM + SUPTITLE_LINE * title.count("\n") if title else 0.05  # inches above the first row
    foot = 0.05  # and below the last
    width, height = cols * size, head + rows * (TITLE_ROOM + size) + (KEY_ROOM if key_row is not None else 0) + foot
    fig = _figure(width, height)
    axes, top = [], height - head  # inches from the bottom
    for r in range(rows):
        top -= TITLE_ROOM + size  # the bottom of this row's panels
        for c in range(min(cols, n - r * cols)):
            axes.append(fig.add_axes((c * size / width, top / height, size / width, size / height), projection="3d"))
        top -= KEY_ROOM if r == key_row else 0.0
    return fig, axes


def render_mesh_png(meshes: trimesh.Trimesh | Sequence[trimesh.Trimesh], path: str | Path | None = None,
                    titles: Sequence[str] | None = None, size: float = 3.0) -> np.ndarray:
    """Render one or several meshes with the same camera, in the figures' grid; returns the RGB image [H, W, 3]
    and writes it to ``path`` (PNG) when one is given."""
    meshes = [meshes] if isinstance(meshes, trimesh.Trimesh) else list(meshes)
    if not meshes:
        raise ValueError("render_mesh_png: no meshes given")
    if titles is not None and len(titles) != len(meshes):
        raise ValueError(f"render_mesh_png: {len(titles)} titles for {len(meshes)} meshes")
    fig, axes = panel_axes(len(meshes), size)
    for i, (ax, mesh) in enumerate(zip(axes, meshes)):
        draw_mesh(ax, mesh, titles[i] if titles else None)
    return _finish(fig, path)


def samples_panels(names: Sequence[str], ctx_pos: np.ndarray, ctx_val: np.ndarray, size: float = 2.6,
                   vmax: float | None = None, title: str | None = None) -> tuple[Figure, dict]:
    """The figure of :func:`sdf_samples_figure` with S drawn and the mesh panels titled but empty: ``names`` are the
    meshes' in :func:`shape_pictures`' words (gt, sample_1, ..., mean, prob) in the order of their panels, the ground
    truth's before S's. Returns the figure and name -> its panel."""
    first = int("gt" in names)
    fig, axes = panel_axes(len(names) + 1, size, title=title, key_under=first)
    k = len(np.reshape(ctx_val, -1))  # the key under S says which colour is in and which out
    draw_context_points(axes[first], ctx_pos, ctx_val, f"S ({counted(k, 'point')})", vmax)
    panels = dict(zip(names, axes[:first] + axes[first + 1 :]))
    for name, ax in panels.items():
        _setup_axis(ax, mesh_title(name))
    if title:
        fig.suptitle(title, fontsize=SUPTITLE_SIZE, y=1 - 0.08 / fig.get_figheight(), va="top")
    return fig, panels


def panel_names(gt: bool, samples: int, prob: bool) -> list[str]:
    """The mesh panels' names in the figure's order: gt, sample_1, ..., sample_<samples>, mean, prob."""
    return ["gt"] * gt + [f"sample_{i + 1}" for i in range(samples)] + ["mean"] + ["prob"] * prob


def sdf_samples_figure(gt_mesh: trimesh.Trimesh | None, ctx_pos: np.ndarray, ctx_val: np.ndarray,
                       sample_meshes: Sequence[trimesh.Trimesh], mean_mesh: trimesh.Trimesh, size: float = 2.6,
                       vmax: float | None = None, title: str | None = None,
                       prob_mesh: trimesh.Trimesh | None = None) -> Figure:
    """The paper's Fig. 8 as a matplotlib Figure, not yet drawn: ground truth (left out when None, e.g. for a user's
    bare context), the context set S as coloured points (symmetric colour scale up to vmax, e.g. the truncation,
    with its key below), sampled shapes, the shape of the mean prediction and, when given, the 0.5 level set of
    P(SDF < 0 | S) (prob_mesh); in reading order in a grid of at most MAX_COLUMNS columns, one camera for all."""
    meshes = {"gt": gt_mesh, **{f"sample_{i + 1}": m for i, m in enumerate(sample_meshes)}, "mean": mean_mesh,
              "prob": prob_mesh}  # by panel name: the order is panel_names'
    fig, panels = samples_panels(panel_names(gt_mesh is not None, len(sample_meshes), prob_mesh is not None),
                                 ctx_pos, ctx_val, size, vmax, title)
    for name, ax in panels.items():
        draw_mesh(ax, meshes[name])
    return fig


def figure_sdf_samples(gt_mesh: trimesh.Trimesh | None, ctx_pos: np.ndarray, ctx_val: np.ndarray,
                       sample_meshes: Sequence[trimesh.Trimesh], mean_mesh: trimesh.Trimesh,
                       path: str | Path | None = None, size: float = 2.6, vmax: float | None = None,
                       title: str | None = None, prob_mesh: trimesh.Trimesh | None = None) -> np.ndarray:
    """:func:`sdf_samples_figure` rasterised: the RGB image [H, W, 3]; writes a PNG when ``path`` is given."""
    return _finish(sdf_samples_figure(gt_mesh, ctx_pos, ctx_val, sample_meshes, mean_mesh, size, vmax, title,
                                      prob_mesh), path)


def mesh_title(name: str) -> str:
    """A mesh's file name -> its panel title, as the figure names it: "gt" -> "ground truth", "sample_2" ->
    "sample 2", "prob" -> "P(SDF < 0 | S) > 0.5"."""
    return {"gt": "ground truth", "prob": PROB_TITLE}.get(name, name.replace("_", " "))


def shape_pictures(out_dir: Path, prefix: str, gt_grid: np.ndarray | None, ctx_pos: np.ndarray, ctx_val: np.ndarray,
                   mean_grid: np.ndarray, sample_grids: Sequence[np.ndarray], truncation: float,
                   formats: Sequence[str] = MESH_FORMATS, renders: bool = False, title: str | None = None,
                   prob_grid: np.ndarray | None = None, gt_files: Sequence[Path] | None = None
                   ) -> tuple[Path, dict[str, list[Path]]]:
    """Fig. 8 for one shape: the ground truth (if known), S coloured by SDF (red = larger), the samples, the mean
    shape and (given prob_grid, P(inside) [R, R, R]) its 0.5 level set, as <prefix>figure.png, plus every mesh
    as <prefix><name>.<format> (and one PNG render each when renders). Empty meshes (a vanished sample) are
    written too, as empty files of that format, so the set of files never depends on what the model predicted.
    gt_files: the truth's meshes, written already (:func:`truth_meshes`): drawn in the figure, not written again.

    gt_grid, mean_grid, sample_grids[i]: [R, R, R]; ctx_pos [K, 3]; ctx_val [K] or [K, 1].
    Returns the figure's path and name -> its files (names: gt, mean, sample_1, ..., prob; formats in order).
    """
    bad = [f for f in formats if f not in MESH_FORMATS]
    if bad or not formats:
        raise ValueError(f"mesh formats must be a non-empty subset of {MESH_FORMATS}, got {list(formats)}")
    out_dir = Path(out_dir)
    grids = {} if gt_grid is None else {"gt": gt_grid}
    grids["mean"] = mean_grid
    grids.update((f"sample_{i + 1}", grid) for i, grid in enumerate(sample_grids))
    if prob_grid is not None:
        grids["prob"] = prob_grid  # meshed at its 0.5 level, below
    names = panel_names(gt_grid is not None, len(sample_grids), prob_grid is not None)
    fig, panels = samples_panels(names, ctx_pos, ctx_val, vmax=truncation, title=title)
    fig.canvas.draw()  # S, the titles and the empty mesh panels; each mesh is drawn into its own, then dropped
    files = {name: _mesh_files(out_dir, prefix, name, grid, formats, panels[name], renders,
                               gt_files if name == "gt" else None) for name, grid in grids.items()}
    figure = out_dir / f"{prefix}figure.png"
    _drawn(fig, figure)
    return figure, files


def truth_meshes(grid: np.ndarray, stem: Path, formats: Sequence[str] = MESH_FORMATS) -> list[Path]:
    """A shape's ground truth, the level set of its grid [R, R, R], written as <stem>.<format> in each format: once
    for the pictures of every |S| (:func:`shape_pictures`' gt_files), since it never changes. Returns its files."""
    return _exported(sdf_to_mesh(grid), stem, formats)


def _exported(mesh: trimesh.Trimesh, stem: Path, formats: Sequence[str]) -> list[Path]:
    return [export_mesh(mesh, Path(f"{stem}.{fmt}")) for fmt in formats]


def _mesh_files(out_dir: Path, prefix: str, name: str, grid: np.ndarray, formats: Sequence[str], panel,
                renders: bool, written: Sequence[Path] | None = None) -> list[Path]:
    """One mesh of :func:`shape_pictures` (the level set of its grid; P(inside)'s at 0.5): written in each format
    (unless ``written`` already), drawn into its panel of the figure and rendered alone when asked, then dropped, so
    that one mesh is held at a time. Returns its files."""
    mesh = sdf_to_mesh(probability_field(grid) if name == "prob" else grid)
    files = list(written) if written is not None else _exported(mesh, out_dir / f"{prefix}{name}", formats)
    _draw_once(panel, mesh)
    if renders:
        render_mesh_png(mesh, out_dir / f"{prefix}{name}.png", titles=[mesh_title(name)])
        files.append(out_dir / f"{prefix}{name}.png")
    return files
