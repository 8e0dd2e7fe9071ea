"""SDF grids -> meshes: the level set by marching cubes, in the cube's coordinates (:func:`sdf_to_mesh`; mesh.py's
conventions, so a mesh -> SDF -> mesh round trip keeps coordinates), a probability of inside read as an SDF
(:func:`probability_field`), and a mesh written as .glb or .obj (:func:`export_mesh`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from skimage.measure import marching_cubes

from pixeltransformer.files import atomic_write


def sdf_to_mesh(sdf, level: float = 0.0) -> trimesh.Trimesh:
    """The level set of an SDF grid [R, R, R] (or [1, R, R, R]; an array or a tensor) as a mesh in [-1, 1]^3
    coordinates, faces wound outwards.

    An empty level set (the grid is all above or all below ``level``) gives an empty mesh, not an error,
    because sampled shapes can legitimately vanish.
    """
    sdf = np.asarray(sdf.detach().cpu() if hasattr(sdf, "detach") else sdf, dtype=np.float32)
    if sdf.ndim == 4 and sdf.shape[0] == 1:  # a signal [V=1, R, R, R]
        sdf = sdf[0]
    if sdf.ndim != 3 or min(sdf.shape) < 2:
        raise ValueError(f"sdf_to_mesh: expected an SDF grid [R, R, R], got shape {sdf.shape}")
    if not np.isfinite(sdf).all():
        raise ValueError("sdf_to_mesh: the SDF grid holds NaN/Inf values")
    if not sdf.min() < level < sdf.max():
        return trimesh.Trimesh()
    spacing = tuple(2.0 / (n - 1) for n in sdf.shape)
    # With the inside negative, skimage's "descent" winding is the outward one (positive volume; tested).
    verts, faces, _, _ = marching_cubes(sdf, level=level, spacing=spacing, gradient_direction="descent")
    return trimesh.Trimesh(verts - 1.0, faces, process=False)


def probability_field(p_inside):
    """An SDF-like field whose level 0 is P(inside) = 0.5 (negative where inside is more likely), so meshing and
    IoU treat it like an SDF: 0.5 - p (arrays or tensors, any shape)."""
    return 0.5 - p_inside


def export_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Write a mesh as .glb or .obj (chosen by the suffix), atomically. A mesh of no face gives an empty file: a
    scene of no geometry, an .obj of one comment (trimesh writes 'v' and 'f' lines a reader takes for points)."""
    path = Path(path)
    if path.suffix.lower() not in (".glb", ".obj"):
        raise ValueError(f"export_mesh: {path} must end in .glb or .obj")
    if path.suffix.lower() == ".obj" and len(mesh.faces) == 0:
        return atomic_write(path, lambda tmp: tmp.write_text("# an empty mesh: no surface\n"))
    return atomic_write(path, lambda tmp: mesh.export(tmp))
