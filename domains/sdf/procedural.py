"""Procedurally generated chairs with an analytic signed distance field.

A chair is a union of oriented boxes and capped cylinders: a seat (box or round), four legs (box or
cylinder, straight or splayed), a back (solid slab, vertical slats or horizontal slats, possibly tilted),
optional arm rests and optional cross bars between the legs. The SDF of the union is the minimum of the
primitives' exact SDFs (exact outside the chair, a bound inside it, which is all a truncated SDF needs).

Frame: y is up, the chair faces +z, like ShapeNet. Every chair is centred and scaled so that its bounding
box's longest side spans [-1 + margin, 1 - margin], the same normalisation ``mesh.normalise_mesh`` gives
real meshes. Grid point (i, j, k) of an R^3 grid sits at -1 + 2 (i, j, k) / (R - 1), and array axis a holds
coordinate a, so positions in grid order are (x, y, z).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Bump when the generator changes, so that disk caches of generated sets are rebuilt.
GENERATOR_VERSION = 1
MARGIN = 0.05  # the least room between a shape's box and the cube's faces, in its units (see grid_margin)


def grid_margin(resolution: int, shell_voxels: float = 0.0, margin: float = MARGIN) -> float:
    """The room left between a shape's bounding box and the faces of the cube [-1, 1]^3 on an R^3 grid: ``margin``,
    or more where the grid is coarse: the surface, offset outwards by ``shell_voxels`` voxels (2 / (R - 1) each),
    stays at least half a voxel inside the cube's faces, so every grid point on the border is outside (SDF > 0) and
    the marching-cubes surface is closed. With the default 0.75-voxel shell a fixed 0.05 held that down to R = 32
    only: a flat side (a box's, a seat's) on R <= 31 put border points on or inside the shell, and the surface open.
    0.05 from R = 51 up (the paper's 64^3 unchanged), 0.081 at 32^3, 0.167 at 16^3."""
    return max(float(margin), (float(shell_voxels) + 0.5) * 2.0 / (resolution - 1))


@dataclass
class Primitive:
    """An oriented box or a capped cylinder.

    ``axes`` holds the primitive's local axes as columns ([3, 3], orthonormal); ``half`` its half extents
    along them. A cylinder's axis is local axis 1, its radius ``half[0]`` (``half[2]`` equals it).
    """

    kind: str  # "box" | "cylinder"
    centre: np.ndarray  # [3]
    axes: np.ndarray  # [3, 3]
    half: np.ndarray  # [3]

    def corners(self) -> np.ndarray:
        """The 8 corners of the (bounding) box in world coordinates: [8, 3]."""
        signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1], indexing="ij")).reshape(3, -1).T  # [8, 3]
        return self.centre + (signs * self.half) @ self.axes.T  # [8, 3]


@dataclass
class ChairParams:
    """A chair: the style choices (plain data, for inspection and tests) and its primitives."""

    style: dict[str, Any]
    primitives: list[Primitive] = field(default_factory=list)


# ---- primitive construction -------------------------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _frame_along(u: np.ndarray) -> np.ndarray:
    """Orthonormal axes [3, 3] whose column 1 is u and column 0 stays as close to world x as possible,
    so that square legs keep their faces aligned with the seat."""
    u = _unit(u)
    ref = np.array([1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    e0 = _unit(ref - ref.dot(u) * u)
    e2 = np.cross(e0, u)
    return np.stack([e0, u, e2], axis=1)


def _box(centre, half, axes=None) -> Primitive:
    return Primitive("box", np.asarray(centre, float), np.eye(3) if axes is None else axes, np.asarray(half, float))


def _segment(kind: str, a, b, radius: float) -> Primitive:
    """A box (square section, half-side = radius) or cylinder running from point a to point b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    length = np.linalg.norm(b - a)
    return Primitive(kind, (a + b) / 2, _frame_along(b - a), np.array([radius, length / 2, radius]))


# ---- the generator ----------------------------------------------------------------------------------


def make_chair(rng: np.random.Generator, margin: float = 0.05) -> ChairParams:
    """Draw one random chair (style and proportions) and normalise it into [-1 + margin, 1 - margin]^3."""
    u = rng.uniform
    style: dict[str, Any] = {
        "seat": "round" if u() < 0.2 else "box",
        "legs": "cylinder" if u() < 0.5 else "box",
        "splayed": bool(u() < 0.4),
        "back": str(rng.choice(["slab", "vertical_slats", "horizontal_slats"], p=[0.45, 0.3, 0.25])),
        "arms": bool(u() < 0.35),
        "cross_bars": str(rng.choice(["none", "ring", "H"], p=[0.55, 0.25, 0.2])),
    }
    prims: list[Primitive] = []

    # Seat: natural units (about metres); the final normalisation removes the scale.
    seat_top = u(0.32, 0.6)
    seat_half_t = u(0.01, 0.045)
    sw, sd = u(0.2, 0.3), u(0.19, 0.28)  # half width (x), half depth (z)
    seat_bottom = seat_top - 2 * seat_half_t
    if style["seat"] == "round":
        sw = sd = min(sw, sd)
        prims.append(_segment("cylinder", [0, seat_bottom, 0], [0, seat_top, 0], sw))
    else:
        prims.append(_box([0, seat_top - seat_half_t, 0], [sw, seat_half_t, sd]))

    # Legs: top ends under the seat, feet on the floor (y = 0), pushed outwards when splayed.
    leg_r = u(0.012, 0.035)
    inset = u(0.0, 0.06)
    reach = 0.7071 if style["seat"] == "round" else 1.0  # round seats: legs on the diagonals
    lx, lz = reach * sw - inset - leg_r, reach * sd - inset - leg_r
    splay = u(0.03, 0.1) if style["splayed"] else 0.0
    legs = []
    for sx in (-1, 1):
        for sz in (-1, 1):
            top = np.array([sx * lx, seat_bottom + 1e-3, sz * lz])
            foot = np.array([sx * (lx + splay), 0.0, sz * (lz + splay)])
            legs.append((top, foot))
            prims.append(_segment(style["legs"], top, foot, leg_r))

    # Back: rises from the rear edge of the seat, tilted backwards by up to ~17 degrees.
    tilt = u(0.0, 0.3)
    up = np.array([0.0, np.cos(tilt), -np.sin(tilt)])  # along the back
    x_axis = np.array([1.0, 0.0, 0.0])
    back_axes = np.stack([x_axis, up, np.cross(x_axis, up)], axis=1)
    back_half_t = u(0.008, 0.03)
    back_h = u(0.25, 0.6)
    back_w = sw * u(0.75, 1.0)
    base = np.array([0.0, seat_top - 1e-3, -sd * (0.7071 if style["seat"] == "round" else 1.0) + back_half_t])

    def back_part(s: float, t0: float, t1: float, half_w: float) -> Primitive:
        # A box of the back plane spanning [s - half_w, s + half_w] across and [t0, t1] along the back.
        centre = base + s * x_axis + (t0 + t1) / 2 * up
        return _box(centre, [half_w, (t1 - t0) / 2, back_half_t], back_axes)

    if style["back"] == "slab":
        prims.append(back_part(0.0, 0.0, back_h, back_w))
    else:
        post = u(0.012, 0.03)
        for sx in (-1, 1):
            prims.append(back_part(sx * (back_w - post), 0.0, back_h, post))
        if style["back"] == "vertical_slats":
            rail = u(0.02, 0.07)
            prims.append(back_part(0.0, back_h - 2 * rail, back_h, back_w))
            n = int(rng.integers(1, 6))
            slat = u(0.008, min(0.03, (back_w - 2 * post) / (n + 1)))
            for s in np.linspace(-(back_w - 2 * post), back_w - 2 * post, n + 2)[1:-1]:
                prims.append(back_part(float(s), 0.0, back_h - rail, slat))
        else:
            n = int(rng.integers(2, 5))
            bar = u(0.012, 0.04)
            for t in np.linspace(u(0.2, 0.45) * back_h, back_h - bar, n):
                prims.append(back_part(0.0, t - bar, t + bar, back_w))

    # Arm rests: a horizontal bar on each side held by a post at its front end.
    if style["arms"]:
        arm_h = u(0.15, 0.28)
        arm_w, arm_t = u(0.015, 0.04), u(0.01, 0.025)
        front = sd * u(0.5, 1.0)
        for sx in (-1, 1):
            x = sx * (sw - arm_w)
            prims.append(_box([x, seat_top + arm_h, (front - sd) / 2], [arm_w, arm_t, (front + sd) / 2]))
            prims.append(_segment(style["legs"], [x, seat_top - 1e-3, front - arm_w],
                                  [x, seat_top + arm_h, front - arm_w], 0.8 * arm_w))

    # Cross bars between the legs at one height.
    if style["cross_bars"] != "none":
        frac = u(0.15, 0.5)
        bar_r = leg_r * u(0.4, 0.75)
        at = [top + (foot - top) * (1 - frac) for top, foot in legs]  # legs: (-,-) (-,+) (+,-) (+,+)
        pairs = [(0, 1), (2, 3)]  # the two sides, front to back
        if style["cross_bars"] == "ring":
            pairs += [(0, 2), (1, 3)]
        for i, j in pairs:
            prims.append(_segment(style["legs"], at[i], at[j], bar_r))
        if style["cross_bars"] == "H":
            prims.append(_segment(style["legs"], (at[0] + at[1]) / 2, (at[2] + at[3]) / 2, bar_r))

    return _normalise(ChairParams(style, prims), margin)


def _normalise(params: ChairParams, margin: float) -> ChairParams:
    """Centre the chair's bounding box and scale its longest side to 2 - 2 margin."""
    pts = np.concatenate([p.corners() for p in params.primitives])  # [8 M, 3]
    lo, hi = pts.min(0), pts.max(0)
    centre, scale = (lo + hi) / 2, (2 - 2 * margin) / (hi - lo).max()
    prims = [Primitive(p.kind, (p.centre - centre) * scale, p.axes, p.half * scale) for p in params.primitives]
    return ChairParams(dict(params.style), prims)


# ---- evaluation -------------------------------------------------------------------------------------


def primitive_sdf(prim: Primitive, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Exact SDF of one primitive at coordinates x, y, z (any shapes that broadcast together).

    Coordinates come as separate arrays so that a grid can pass three 1D axes ([R,1,1], [1,R,1], [1,1,R]):
    each local coordinate is then a sum of broadcast 1D terms, several times faster than an [N, 3] matmul.
    """
    dt = np.result_type(x, y, z, np.float32)
    c, a, h = prim.centre.astype(dt), prim.axes.astype(dt), prim.half.astype(dt)
    dx, dy, dz = x - c[0], y - c[1], z - c[2]
    local = [dx * a[0, i] + dy * a[1, i] + dz * a[2, i] for i in range(3)]  # 3 x [*shape]
    if prim.kind == "box":
        q = [np.abs(local[i]) - h[i] for i in range(3)]
    elif prim.kind == "cylinder":
        q = [np.sqrt(local[0] * local[0] + local[2] * local[2]) - h[0], np.abs(local[1]) - h[1]]
    else:
        raise ValueError(f"unknown primitive kind {prim.kind!r}; expected 'box' or 'cylinder'")
    outside = np.sqrt(sum(np.square(np.maximum(qi, 0)) for qi in q))
    inside = np.minimum(np.maximum.reduce(np.broadcast_arrays(*q)), 0) if len(q) == 3 else np.minimum(np.maximum(*q), 0)
    return outside + inside


def _union(params: ChairParams, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    out = None
    for prim in params.primitives:
        d = primitive_sdf(prim, x, y, z)
        out = d if out is None else np.minimum(out, d, out=out)
    return out


def chair_sdf(params: ChairParams, points: np.ndarray) -> np.ndarray:
    """SDF of a chair (negative inside) at points [N, 3] -> [N] (float32 unless points are float64)."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"chair_sdf: points must be [N, 3], got {points.shape}")
    x, y, z = (np.ascontiguousarray(points[:, i]) for i in range(3))  # 3 x [N]
    return _union(params, x, y, z)


def chair_sdf_grid(params: ChairParams, resolution: int = 64, truncation: float | None = None,
                   shell_voxels: float = 0.0) -> np.ndarray:
    """SDF of a chair on the R^3 grid: float32 [R, R, R]; grid point (i, j, k) = -1 + 2 (i, j, k) / (R - 1).

    With a truncation t the result is the SDF clamped to [-t, t], computed much faster: a primitive can
    only change grid points within t of its bounding box, so only that block of the grid is evaluated.
    ``shell_voxels`` offsets the surface outwards by that many voxels (sdf - shell, exact outside): legs and
    slats thinner than a voxel hold no grid point inside and would fall apart into floating pieces in the
    grid's marching-cubes mesh and its IoU; the mesh datasets get the same shell (``mesh.mesh_to_sdf``).
    """
    if shell_voxels < 0:
        raise ValueError(f"chair_sdf_grid: shell_voxels must be >= 0, got {shell_voxels}")
    shell = shell_voxels * 2.0 / (resolution - 1)
    ax = np.linspace(-1.0, 1.0, resolution, dtype=np.float32)  # [R]
    if truncation is None:
        return (_union(params, ax[:, None, None], ax[None, :, None], ax[None, None, :]) - shell).astype(np.float32)
    if truncation <= 0:
        raise ValueError(f"chair_sdf_grid: truncation must be > 0, got {truncation}")
    step = 2.0 / (resolution - 1)
    reach = truncation + shell  # the shell lowers values, so a primitive reaches t + shell far
    out = np.full((resolution,) * 3, reach, dtype=np.float32)  # [R, R, R]
    for prim in params.primitives:
        corners = prim.corners()  # [8, 3]
        lo = np.clip(np.floor((corners.min(0) - reach + 1) / step).astype(int), 0, resolution)
        hi = np.clip(np.ceil((corners.max(0) + reach + 1) / step).astype(int) + 1, 0, resolution)
        if (hi <= lo).any():
            continue
        sub = [ax[lo[i] : hi[i]] for i in range(3)]
        d = primitive_sdf(prim, sub[0][:, None, None], sub[1][None, :, None], sub[2][None, None, :])
        block = out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        np.minimum(block, d, out=block)
    return np.clip(out - shell, -truncation, truncation)


def grid_points(resolution: int, dtype=np.float32) -> np.ndarray:
    """Positions of every point of an R^3 grid, row-major: [R^3, 3] (align-corners convention)."""
    ax = np.linspace(-1.0, 1.0, resolution, dtype=dtype)
    return np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), axis=-1).reshape(-1, 3)  # [N, 3]
