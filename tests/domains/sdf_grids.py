"""The values of an SDF grid on the cube's border, which every grid the data makes keeps outside (positive)."""

from __future__ import annotations

import numpy as np


def border_values(grid: np.ndarray) -> np.ndarray:
    """The values of an SDF grid [R, R, R] on the cube's six faces: [6 R^2]."""
    return np.concatenate([np.moveaxis(grid, a, 0)[[0, -1]].ravel() for a in range(3)])
