"""One autoregressive sampling step of a cached encoder, one new sample per chain, in as few operations as it takes.

inference.sample draws N' values one at a time. Each step decodes the next query against the cached memory rows
and appends the drawn value to the cache: at one row per chain that is a few matrix-vector products per layer and
one attention row per layer (Attention.attend_rows, the arithmetic encode_append uses for later rows too).
PixelTransformer.decode and encode_append do the same for any number of rows, through modules built for whole
sets; at one row their bookkeeping (module calls, views) is a visible share of a step on a CPU. What RowStepper
does differently: the linear layers' weights are transposed once, when the stepper is made (an addmm over a
[D_in, D_out] matrix streams it faster than a linear over [D_out, D_in]), and a step's memory row is written
once for every decoder layer, with no projection.

It writes the cache through Attention.store_rows, as encode_append does, and the tests check its outputs against
decode and encode_append (1e-5) for every encoder option.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .model import Block, RowCache, PixelTransformer, Positions


@dataclass
class RowLinear:
    """A linear layer with its weight pre-transposed: [B, D_in] -> [B, D_out]."""

    weight: torch.Tensor  # [D_in, D_out]
    bias: torch.Tensor  # [D_out]

    @classmethod
    def of(cls, linear: torch.nn.Linear) -> RowLinear:
        return cls(linear.weight.detach().t().contiguous(), linear.bias.detach())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.weight)  # [B, D_out]


@dataclass
class RowLayer:
    """One transformer block's weights for a one-row step."""

    block: Block  # its layer norms, activation and attention parameters (key/value weights, distance widths, sink)
    query: RowLinear  # [D, D]
    out: RowLinear  # [D, D]
    fc1: RowLinear  # [D, F]
    fc2: RowLinear  # [F, D]

    @classmethod
    def of(cls, block: Block) -> RowLayer:
        return cls(block, RowLinear.of(block.attn.q), RowLinear.of(block.attn.out), RowLinear.of(block.mlp[0]),
                   RowLinear.of(block.mlp[2]))

    def __call__(self, x: torch.Tensor, h: torch.Tensor, rows: torch.Tensor, pos: Positions) -> torch.Tensor:
        """The block from its normed input h [B, D] on, against a row cache [B, 1, M, W]: x [B, D] -> [B, D]."""
        o = self.block.attn.attend_rows(self.query(h).unsqueeze(1), rows, pos)  # [B, 1, D]
        x = x + self.out(o.view(x.shape[0], -1))  # [B, D]
        return x + self.fc2(self.block.mlp[1](self.fc1(self.block.norm2(x))))  # [B, D]


class RowStepper:
    """decode and append for one new row per chain, on a model's RowCache (buffered or incremental encoder).

    decode(pos, qry_embed) equals model.decode(model.cached_memory(cache), pos, qry_embed); append(pos, val,
    ctx_embed) equals model.encode_append(cache, pos, val, ctx_embed) for one sample per chain. The linear layers'
    weights are copied when the stepper is made (the attention reads its key/value weights from the module): make
    a new one after the model's weights change.
    """

    def __init__(self, model: PixelTransformer, cache: RowCache):
        self.model, self.cache = model, cache
        self.encoder = [RowLayer.of(blk) for blk in model.encoder]
        self.decoder = [RowLayer.of(blk) for blk in model.decoder]

    def decode(self, pos: Positions, qry_embed: torch.Tensor) -> torch.Tensor:
        """Every chain's next query, its Positions [B, 1, P] and position embedding [B, 1, D] -> the
        distribution's parameters [B, 1, NP] (with the set's frame appended under value_norm)."""
        rows = self.cache.memory_rows[:, :, : self.cache.length]  # [B, 1, n, W]
        x = qry_embed.reshape(qry_embed.shape[0], -1)  # [B, D]
        for layer in self.decoder:
            x = layer(x, layer.block.norm1(x), rows, pos)  # [B, D]
        return self.model.head_output(self.model.decoder_norm(x).unsqueeze(1), self.cache.frame)  # [B, 1, NP]

    def append(self, pos: Positions, val: torch.Tensor, ctx_embed: torch.Tensor) -> None:
        """Append every chain's drawn sample, its Positions [B, 1, P], value [B, 1, V] and position embedding
        [B, 1, D], to the cache."""
        model, cache = self.model, self.cache
        s = cache.length
        if s == 0 or s + 1 > cache.capacity:
            raise ValueError(f"append needs a cache holding S and room for one more row; it holds {s} of "
                             f"{cache.capacity}")
        x = (ctx_embed + model.ctx_val_proj(val, cache.frame)).reshape(val.shape[0], -1)  # [B, D]
        for layer, rows in zip(self.encoder, cache.rows):
            h = layer.block.norm1(x)  # [B, D]
            layer.block.attn.store_rows(h.unsqueeze(1), pos, rows, s)
            x = layer(x, h, rows[:, :, : s + 1], pos)  # [B, D]
        memory = model.encoder_norm(x).unsqueeze(1)  # [B, 1, D]: one row for every decoder layer (encode_append)
        model.decoder[0].attn.store_rows(memory, pos, cache.memory_rows, s)
        cache.length = s + 1
