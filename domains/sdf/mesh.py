"""Meshes: read and checked (:func:`load_mesh`), normalised into the cube (turned y up first by
``voxels.turn_y_up``), and -> SDF grids (:func:`mesh_to_sdf`). Their disk cache is mesh_cache.py's; voxel grids are
voxels.py's; SDF grids -> meshes (marching cubes) and their export are surface.py's.

Conventions (shared with ``procedural.py``): the SDF is negative inside, positive outside, in units of the
normalised cube [-1, 1]^3; grid point (i, j, k) of an R^3 grid sits at -1 + 2 (i, j, k) / (R - 1), and array
axis a holds mesh coordinate a, so a mesh -> SDF -> marching cubes round trip keeps coordinates.

Signs come from the generalised winding number (inside where its magnitude exceeds 1/2), which stays right on the
non-watertight meshes ShapeNet is full of; its magnitude, because a mesh wound inside out (every normal pointing
inwards, as some exporters leave them) has a winding number of -1 inside. Magnitudes come from libigl's exact
point-to-mesh distance. We do not take the value of ``igl.signed_distance`` with a winding-number sign type
directly: in libigl 2.6.3 that value is the distance times (1 - 2 |w|) (a continuous sign), not the distance, e.g.
0.189 instead of 0.191 at a point whose winding number is 0.005.
"""

from __future__ import annotations

from pathlib import Path

import igl
import numpy as np
import trimesh
from scipy import ndimage

from pixeltransformer.arrays import read_npz
from pixeltransformer.errors import counted, in_number
from pixeltransformer.loopbar import loop_progress

from .procedural import MARGIN, grid_points
from .voxels import GRID_ARRAYS, VOXEL_SUFFIXES, npz_grids

# Bump when the mesh -> SDF conversion changes, so that the mesh cache's old entries are not reused (2: a mesh wound
# inside out is solid, not a shell around nothing; 3: vertices no face uses are dropped, so a stray one no longer sets
# the scale, and a mesh of faces without area is refused; 4: faces wound either way are wound consistently first, see
# consistent_winding; 5: so are the faces of a triangle soup, an STL file's; 6: a mesh of no volume is refused, see
# check_volume, whose entries of 5 are taken over, not converted again, see UNCHECKED_VERSION). The margin is in the
# key (SDFCache.key): where procedural.grid_margin widened it, on grids under 51^3, the entries made with 0.05 are
# missed and rebuilt.
MESH_CONVERSION_VERSION = 6
# the version that converted a training mesh of no volume into a sheet's shell; its grid of any other mesh is the
# current version's, so its cache entries are taken over once their mesh passes check_volume (SDFCache._adopt): an
# upgrade reads each cached mesh once, about a tenth of the time converting it again takes (a ShapeNet chair at 32^3)
UNCHECKED_VERSION = 5
# The libraries whose versions a key holds, as the picture and video caches hold their decoders': another libigl
# computes other distances or signs (2.6.3's signed_distance, above), another trimesh reads a file otherwise.
MESH_LIBRARIES = ("trimesh", "libigl", "scipy")
SIGN_TYPES = ("fast_winding_number", "winding_number")
MESH_SUFFIXES = (".npz", ".obj", ".off", ".ply", ".glb", ".gltf", ".stl")  # what load_mesh reads
# a mesh of this many faces converts long enough alone (a scan, a CAD export: hundreds of thousands of faces, minutes
# at 64^3 on a busy CPU) that its conversion says its progress, a line a stage (STAGES)
BIG_MESH_FACES = 100_000
STAGES = ("distances", "signs near the surface and of the far regions", "signs of leaked regions")
# the voxel files no mesh file is taken for (an .npz holds either)
VOXEL_FILES = tuple(suffix for suffix in VOXEL_SUFFIXES if suffix not in MESH_SUFFIXES)
# a mesh no thicker than this share of its size across its thinnest direction lies in one plane (check_volume): the
# rounding of a plane's vertices written as text (6 decimals, Blender's OBJ, of a sheet 1 cm or more across), far
# thinner than a voxel of any grid
FLAT = 1e-4
# what an .npz of neither a mesh nor voxel grids is told (file_kind)
NEITHER = f"a mesh's .npz holds 'vertices' and 'faces', one of voxel grids {GRID_ARRAYS}"


def file_kind(path: Path) -> tuple[str, list[str]]:
    """What a data file holds, "mesh", "voxels" or "neither", and an .npz's array names, in any case of letters: a
    .npy, .npy.gz or .binvox file voxels; an .npz a mesh where it names 'vertices' or 'faces' or cannot be read (the
    mesh reader names the cause), voxels where the voxel reader finds grids in it (:func:`voxels.npz_grids`), else
    neither (SDF samples' 'points' and 'sdf', a lone 'sdf' [N]). Of an .npz its index (and a lone array's header) is
    read, once."""
    name = path.name.lower()
    if not name.endswith(".npz"):
        return ("voxels" if name.endswith(VOXEL_FILES) else "mesh"), []
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            if {"vertices", "faces"} & set(names):
                return "mesh", names
            return ("neither" if npz_grids(data) is None else "voxels"), names
    except Exception:  # not a zip, cut short, ...: the readers name the cause
        return "mesh", []


def arrays_held(names: list[str]) -> str:
    """An .npz's array names as a message gives them: "'points', 'sdf'", or "no array"."""
    return ", ".join(map(repr, names)) or "no array"


def neither_held(names: list[str]) -> str:
    """What a refusal says of an .npz of neither a mesh nor voxel grids holding the arrays ``names``."""
    return f"an .npz of neither a mesh nor voxel grids ({arrays_held(names)}): {NEITHER}"


# ---- loading ----------------------------------------------------------------------------------------


def _check_mesh(v: np.ndarray, f: np.ndarray, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(v, dtype=np.float64)
    f = np.asarray(f)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{path}: expected vertices [N, 3], got shape {v.shape}")
    if len(v) == 0:
        raise ValueError(f"{path}: no vertices (an empty mesh)")
    if f.size == 0:
        raise ValueError(f"{path}: no faces ({len(v)} vertices but no triangles: a point cloud, not a mesh)")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"{path}: expected triangle faces [F, 3], got shape {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"{path}: faces must hold integer vertex indices, got dtype {f.dtype}")
    f = f.astype(np.int64)
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"{path}: face indices must lie in [0, {len(v)}), got [{f.min()}, {f.max()}]")
    if not np.isfinite(v).all():
        raise ValueError(f"{path}: vertices hold NaN/Inf values")
    kept = np.unique(f)  # [Nu] the vertices faces use, sorted
    if len(kept) < len(v):  # a vertex no face uses (left over by an editor or a scan) set the box normalise_mesh fills:
        # one far away shrank the shape to a dot
        v, f = v[kept], np.searchsorted(kept, f)  # [Nu, 3], [F, 3]
    extent = float((v.max(0) - v.min(0)).max())
    if extent <= 1e-12:
        raise ValueError(f"{path}: the mesh has zero extent (all vertices coincide)")
    corners = v[f]  # [F, 3, 3]
    area = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=-1)  # [F]
    if area.sum() <= 1e-12 * extent**2:  # a surface of no area: its SDF was a tube of the shell's width around it
        raise ValueError(f"{path}: no area in its {counted(len(f), 'face')} (the corners of each lie on a "
                         "line), so it has no surface")
    return v, f


def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh: vertices [Nv, 3] float64 and faces [Nf, 3] int64.

    Reads anything trimesh reads (.obj .off .ply .glb .stl ...; scenes are concatenated in world
    coordinates) and .npz files holding ``vertices`` and ``faces``. Missing files raise FileNotFoundError;
    empty, degenerate or unreadable meshes raise a one-line ValueError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mesh file")
    if path.suffix.lower() == ".npz":
        files, arrays = read_npz(path, ("vertices", "faces"))
        if "vertices" not in arrays or "faces" not in arrays:
            raise ValueError(f"{path}: .npz must hold 'vertices' and 'faces', found {sorted(files)}")
        return _check_mesh(arrays["vertices"], arrays["faces"], path)
    try:
        loaded = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for corrupt input
        first_line = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(f"{path}: trimesh could not read it ({type(e).__name__}: {first_line})") from None
    if not isinstance(loaded, trimesh.Trimesh):
        raise ValueError(f"{path}: holds no triangle mesh (got {type(loaded).__name__})")
    if len(loaded.faces) == 0:
        raise ValueError(f"{path}: {_why_no_faces(path)}")
    return _check_mesh(loaded.vertices, loaded.faces, path)


def _why_no_faces(path: Path) -> str:
    """Why trimesh found no triangles in a file it read: empty, vertices alone (which a forced mesh drops), or
    nothing it recognises."""
    if path.stat().st_size == 0:
        return "no vertices (the file is empty)"
    try:
        points = len(getattr(trimesh.load(path, process=False), "vertices", ()))
    except Exception:  # it was read once already: a failure now means nothing usable
        points = 0
    if points:
        return f"no faces ({points} vertices but no triangles: a point cloud, not a mesh)"
    return f"not a mesh: no vertices or faces found (expected {', '.join(MESH_SUFFIXES)})"


def check_volume(v: np.ndarray, f: np.ndarray, path: str | Path) -> None:
    """Refuse a mesh (vertices [N, 3], faces [F, 3]) that lies in one plane (one triangle, a flat sheet), no thicker
    across its thinnest direction than FLAT of its size: it encloses no volume, and its SDF grid holds nothing inside
    but the shell mesh_to_sdf thickens a sheet into, from which S draws an empty shape. A mesh to complete is checked
    before it is converted (SDFCache.frame); every mesh is as it is converted (SDFCache._sdf), a training mesh then
    skipped as one that fails to convert is. A flat part beside others (a ShapeNet chair's seat) is no such mesh."""
    centred = v - v.mean(0)  # [N, 3]
    thinnest = np.linalg.eigh(centred.T @ centred)[1][:, 0]  # [3] the direction the vertices spread least along
    across = centred @ thinnest  # [N]
    if np.ptp(across) <= FLAT * float(np.ptp(v, axis=0).max()):
        faces = f"{counted(len(f), 'face')} {in_number(len(f), 'lies', 'lie')}"
        raise ValueError(f"{path}: its {faces} in one plane, so it encloses no volume: its SDF would be only the thin "
                         "shell the conversion gives a sheet, and S an empty shape; give a mesh of a solid (closed, or "
                         "open around the volume it bounds)")


def mesh_frame(v: np.ndarray, margin: float = MARGIN) -> tuple[np.ndarray, float]:
    """The centre [3] of vertices [N, 3]'s bounding box and the uniform scale that makes its longest side span
    [-1 + margin, 1 - margin]: normalised = (v - centre) * scale."""
    if not 0 <= margin < 1:
        raise ValueError(f"normalise_mesh: margin must lie in [0, 1), got {margin}")
    v = np.asarray(v, dtype=np.float64)  # [N, 3]
    lo, hi = v.min(0), v.max(0)  # [3] each
    extent = (hi - lo).max()
    if extent <= 0:
        raise ValueError("normalise_mesh: the mesh has zero extent")
    return (lo + hi) / 2, float((2 - 2 * margin) / extent)


def normalise_mesh(v: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """Centre the bounding box at 0 and scale uniformly so its longest side spans [-1 + margin, 1 - margin]."""
    centre, scale = mesh_frame(v, margin)
    return (np.asarray(v, dtype=np.float64) - centre) * scale  # [N, 3]


# ---- mesh -> SDF ------------------------------------------------------------------------------------


def split_long_edges(v: np.ndarray, f: np.ndarray, max_edge: float) -> tuple[np.ndarray, np.ndarray]:
    """Bisect every triangle across its longest edge until no edge exceeds max_edge: [Nv', 3], [Nf', 3].

    The surface is unchanged (T-junctions are left in place, which a winding number, a sum over
    triangles, does not mind). Long sliver triangles defeat the fast winding number's far-field
    approximation; after splitting, it runs 2-3x faster on ShapeNet chairs.
    """
    verts, faces = np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64)
    for _ in range(64):
        tri = verts[faces]  # [F, 3, 3]
        edges = np.linalg.norm(tri[:, [1, 2, 0]] - tri, axis=-1)  # [F, 3], edge k runs from corner k to k+1
        k = edges.argmax(1)  # [F]
        long = edges[np.arange(len(faces)), k] > max_edge  # [F]
        if not long.any():
            break
        fl, kl = faces[long], k[long]
        rows = np.arange(len(fl))
        a, b, c = fl[rows, kl], fl[rows, (kl + 1) % 3], fl[rows, (kl + 2) % 3]
        mid = np.arange(len(verts), len(verts) + len(fl))
        verts = np.concatenate([verts, (verts[a] + verts[b]) / 2])
        faces = np.concatenate([faces[~long], np.stack([a, mid, c], 1), np.stack([mid, b, c], 1)])
    return verts, faces


def _winding_number(v: np.ndarray, f: np.ndarray, q: np.ndarray, sign: str, chunk: int) -> np.ndarray:
    """Generalised winding number of the mesh at points q [n, 3] -> [n], in chunks of query points. Its magnitude
    says inside (> 1/2); its sign only how the faces are wound."""
    fn = igl.winding_number if sign == "winding_number" else igl.fast_winding_number
    out = np.empty(len(q))
    for start in range(0, len(q), chunk):
        out[start : start + chunk] = fn(v, f, np.ascontiguousarray(q[start : start + chunk]))
    return out


def consistent_winding(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Faces [F, 3] wound consistently across the edges they share: as given where they are (each directed edge
    belongs to one face, or trimesh finds them consistent), else re-wound piece by piece by trimesh. A winding
    number sums the faces' signed solid angles, so a mesh whose faces point either way at random (some exporters,
    hand-merged parts) had |w| near 0 inside: its solid was read as outside, a hollow shell. A whole piece wound
    inside out is fine (|w| is read). Edges are found between coinciding corners, not vertex indices: an STL file
    (a triangle soup, each face its own corners) shares no index, and its faces were never re-wound."""
    if not len(f):
        return f
    corners, welded = np.unique(v, axis=0, return_inverse=True)  # [Vu, 3], [V]: one index per distinct position
    wf = welded.reshape(-1)[f]  # [F, 3], the faces on the welded vertices
    edges = wf[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)  # [3F, 2], directed
    edges = edges[edges[:, 0] != edges[:, 1]]  # [E, 2]: a face with a repeated corner has no edge there
    keys = edges[:, 0] * (int(wf.max()) + 1) + edges[:, 1]  # [E]
    if len(np.unique(keys)) == len(keys):
        return f
    mesh = trimesh.Trimesh(corners, wf, process=False)
    if mesh.is_winding_consistent:  # a directed edge twice where 3 or more faces meet (half of ShapeNet's chairs)
        return f
    trimesh.repair.fix_winding(mesh)
    flipped = (np.asarray(mesh.faces) != wf).any(1)  # [F]: fix_winding reverses rows in place
    out = f.copy()  # [F, 3]
    out[flipped] = f[flipped][:, ::-1]
    return np.ascontiguousarray(out, dtype=np.int64)  # [F, 3]


def mesh_to_sdf(v: np.ndarray, f: np.ndarray, resolution: int = 64, truncation: float | None = None,
                sign: str = "fast_winding_number", shell_voxels: float = 0.0, chunk: int = 262144,
                vote_stride: int = 4, name: str | None = None, plain: bool = False) -> np.ndarray:
    """Signed distance of a mesh (already in [-1, 1] coordinates) on the R^3 grid: float32 [R, R, R].

    Distances are exact point-to-triangle distances. Signs come from the winding number at the grid points
    within one voxel of the surface. The other points split into 6-connected components that cannot cross
    the surface (two grid neighbours on either side of it would put one of them within half a voxel). A
    component whose winding-number votes (its points on a lattice of stride ``vote_stride``, plus a few
    more so small components vote too) agree takes that sign; one that disagrees has leaked through a
    hole in the mesh and gets a winding number at every point. On the shared ShapeNet chairs no component
    leaks, and the winding-number queries, which dominate the cost, drop about 15-fold. What this can miss:
    a pocket under 4 voxels wide joined to the other side through a hole and holding no lattice point.
    Args:
        truncation: if given, distances are only resolved up to t and the result is clamped to [-t, t];
            the distance search then prunes everything farther away, several times faster.
        sign: "fast_winding_number" (Barill et al. 2018; default, 2-4x faster on typical ShapeNet chairs)
            or "winding_number" (exact; faster only on meshes with thousands of huge sliver triangles,
            which defeat the fast method's far-field approximation).
        shell_voxels: thicken every surface into a shell of this half-thickness (in voxels):
            sdf = min(sdf, distance - shell). ShapeNet models many parts as single-sided sheets, whose
            winding number hovers around 1/2 and which no grid point falls inside; with a shell of about
            0.75 voxel they become thin solids the grid can hold. Closed parts grow by the same amount.
            0 (default) gives the plain SDF.
        chunk: query points per libigl call; bounds the temporary memory.
        vote_stride: lattice stride of the points that vote for a far component's sign.
        name: the mesh's name in the progress lines of a mesh of BIG_MESH_FACES or more, one as each of its STAGES
            ends ("[mesh -> SDF 64^3: chair.obj] 1/3 stages (33%), ..., done=distances"); None: no lines. (Smaller
            chunks would say more, at a cost: libigl builds its search tree of the faces again for every call.)
        plain: say them in lines, not a live bar: in one of several worker processes (SDFCache.build_files with
            workers > 1), whose bars would overwrite each other.
    """
    if sign not in SIGN_TYPES:
        raise ValueError(f"mesh_to_sdf: sign must be one of {SIGN_TYPES}, got {sign!r}")
    if truncation is not None and truncation <= 0:
        raise ValueError(f"mesh_to_sdf: truncation must be > 0, got {truncation}")
    progress = loop_progress(STAGES, f"mesh -> SDF {resolution}^3: {name}", unit="stage",
                             enabled=name is not None and len(f) >= BIG_MESH_FACES, plain=plain)
    stages = iter(progress)
    next(stages)  # each stage_done() ends a stage, and says so

    def stage_done(stage: int) -> None:
        progress.set_postfix(done=STAGES[stage], refresh=False)  # shown as the count moves, not before
        next(stages, None)

    v = np.ascontiguousarray(v, dtype=np.float64)
    f = consistent_winding(v, np.ascontiguousarray(f, dtype=np.int64))  # [F, 3]
    band = 2.0 / (resolution - 1)  # one voxel: points closer than this get their own winding number
    if shell_voxels < 0:
        raise ValueError(f"mesh_to_sdf: shell_voxels must be >= 0, got {shell_voxels}")
    shell = shell_voxels * band
    # The distance search stops at the bound; the shell lowers values, so it must see t + shell far.
    upper = np.inf if truncation is None else max(float(truncation) + shell, band)
    pts = grid_points(resolution, dtype=np.float64)  # [N, 3]
    dist = np.empty(len(pts))  # [N]
    for start in range(0, len(pts), chunk):
        p = pts[start : start + chunk]  # [n, 3]
        dist[start : start + chunk] = igl.signed_distance(p, v, f, igl.SIGNED_DISTANCE_TYPE_UNSIGNED, 0.0, upper)[0]
    # Beyond the search bound libigl returns NaN: those points are farther than the truncation.
    dist[np.isnan(dist)] = upper
    far = dist >= band  # [N]
    stage_done(0)

    if sign == "fast_winding_number":
        v, f = split_long_edges(v, f, max_edge=0.1)  # only the winding numbers below use v, f from here on
    labels, n_comp = ndimage.label(far.reshape((resolution,) * 3))  # 6-connected components of far points
    labels = labels.reshape(-1)  # [N]
    lattice = np.zeros((resolution,) * 3, dtype=bool)
    lattice[::vote_stride, ::vote_stride, ::vote_stride] = True
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_comp + 2))  # component c is order[bounds[c]:bounds[c+1]]
    extra = [order[np.linspace(bounds[c], bounds[c + 1] - 1, min(8, bounds[c + 1] - bounds[c])).astype(int)]
             for c in range(1, n_comp + 1)]
    vote_idx = np.union1d(np.flatnonzero(far & lattice.reshape(-1)), np.concatenate([[], *extra]).astype(int))
    near_idx = np.flatnonzero(~far)
    w = _winding_number(v, f, pts[np.concatenate([near_idx, vote_idx])], sign, chunk)  # [n_near + n_votes]
    inside = np.zeros(len(pts), dtype=bool)  # [N]
    inside[near_idx] = np.abs(w[: len(near_idx)]) > 0.5
    vote_in = np.abs(w[len(near_idx) :]) > 0.5  # [n_votes]
    ayes = np.bincount(labels[vote_idx], weights=vote_in, minlength=n_comp + 1)  # [n_comp + 1]
    total = np.bincount(labels[vote_idx], minlength=n_comp + 1)  # [n_comp + 1]
    inside[far] = (ayes == total)[labels[far]] & (total[labels[far]] > 0)
    leaked = np.flatnonzero(far & ((ayes > 0) & (ayes < total))[labels])
    stage_done(1)
    if len(leaked):
        inside[leaked] = np.abs(_winding_number(v, f, pts[leaked], sign, chunk)) > 0.5
    stage_done(2)  # the last line

    out = np.where(inside, -dist, dist)  # [N]
    if shell > 0:
        np.minimum(out, dist - shell, out=out)
    out = out.astype(np.float32)
    if truncation is not None:
        np.clip(out, -truncation, truncation, out=out)
    return out.reshape(resolution, resolution, resolution)
