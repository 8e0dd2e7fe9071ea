"""Each DDP rank's set-sampler random state: the seed a rank offsets, the state a rank continues from when a fit
resumes (its own, or one derived from rank zero's on more ranks than the checkpoint kept), and the line saying so.
"""

from __future__ import annotations

import hashlib

import torch

from .errors import counted

RANK_SEED_OFFSET = 7919  # DDP rank r seeds its set sampler with seed + RANK_SEED_OFFSET * r


def rank_generator_state(states: torch.Tensor, rank: int) -> torch.Tensor | int:
    """The set-sampler state rank continues from, given the states [W', S] a checkpoint holds by rank: its own where
    there is one; for a rank beyond them (a fit resumed on more processes, or from a checkpoint that kept rank zero's
    alone), a seed: a 63-bit digest of rank zero's state plus RANK_SEED_OFFSET * rank, so each such rank draws sets
    of its own, the same on every resume of that checkpoint."""
    if rank < len(states):
        return states[rank].cpu().clone()  # [S] in storage of its own: Generator.set_state crashes on a row view
    return state_digest(states[0], rank)


def state_digest(state: torch.Tensor, rank: int) -> int:
    """A seed for rank from a generator state [S]: a 63-bit digest of the state plus RANK_SEED_OFFSET * rank."""
    digest = hashlib.sha256(state.cpu().numpy().tobytes()).digest()
    return (int.from_bytes(digest[:8], "little") + RANK_SEED_OFFSET * rank) % 2**63


def ranks_note(saved: int, world: int) -> str:
    """One line on a fit resumed on another number of ranks than the checkpoint kept set-sampler states of."""
    def named(first: int, last: int) -> str:
        return f"rank {first}" if first == last else f"ranks {first}-{last}"

    if world > saved:
        starts = "starts from a state" if world - saved == 1 else "start from states"
        what = f"{named(saved, world - 1)} {starts} derived from rank 0's"
    else:
        what = f"the states of {named(world, saved - 1)} are not used"
    return (f"the checkpoint holds the set sampler's random states of {counted(saved, 'rank')} and this fit "
            f"runs {world}: {what}")
