"""One autoregressive sampling step of a cached encoder, one new sample per chain, in as few operations as it takes.

inference.sample draws N' values one at a time. Each step decodes the next query against the cached memory and
appends the drawn value to the key/value cache: at one row per chain that is a few matrix-vector products per
layer and one attention row per cache. PixelTransformer.decode and encode_append do the same arithmetic for any
number of rows, through modules built for whole sets; at one row their bookkeeping (module calls, views, the
copy that gathers the heads) is a visible share of a step on a CPU: RowStepper, that step written for one row,
takes 14 % less time at the start of a paper-preset run and 10 % at the small preset (6-7 % over a whole small
run; at paper the attention over the growing cache dominates and a whole run gains less than its noise). The
attention itself is Attention.attend_heads, the general path's. What it does differently:

- the linear layers' weights are transposed once, when the stepper is made (an addmm over a [D_in, D_out]
  matrix streams it faster than a linear over [D_out, D_in]);
- the out-projection has zero rows at each head's padding channels (the distance channels the values carry as
  zeros), so the attention output [B, H, 1, W'] is read as it comes instead of sliced and copied;
- each decoder layer's keys and values of the new memory row are projected by that layer alone, as in
  encode_append (stacked into one [D, L * 2D] matrix, the paper preset's ten layers streamed at 5 GB/s against
  13 GB/s one by one).

It writes the cache through Attention.store, as encode_append does, and the tests check its outputs against
decode and encode_append (1e-5) for every encoder option.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .model import Attention, Block, KVCache, PixelTransformer, Positions


@dataclass
class RowLinear:
    """A linear layer with its weight pre-transposed: [B, D_in] -> [B, D_out]."""

    weight: torch.Tensor  # [D_in, D_out]
    bias: torch.Tensor  # [D_out]

    @classmethod
    def of(cls, weight: torch.Tensor, bias: torch.Tensor) -> RowLinear:
        """From an nn.Linear's weight [D_out, D_in] and bias."""
        return cls(weight.detach().t().contiguous(), bias.detach())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.weight)  # [B, D_out]


def padded_out(attn: Attention, width: int) -> RowLinear:
    """attn.out reading the attention output with `width` channels per head, the last width - head_dim of which
    are the values' zero padding: [B, H * width] -> [B, D], with zero weights on the padding."""
    h, dh = attn.heads, attn.head_dim
    w = attn.out.weight.detach().t().reshape(h, dh, -1)  # [H, Dh, D]
    padded = w.new_zeros(h, width, w.shape[-1])  # [H, W', D]
    padded[:, :dh] = w
    return RowLinear(padded.view(h * width, -1), attn.out.bias.detach())  # [H * W', D]


@dataclass
class RowLayer:
    """One transformer block's weights for a one-row step."""

    block: Block  # its layer norms, activation and attention parameters (distance widths, sink)
    query: RowLinear  # decoder: the query projection [D, D]; encoder: query, key and value stacked [D, 3D]
    out: RowLinear  # [H * W', D]
    fc1: RowLinear  # [D, F]
    fc2: RowLinear  # [F, D]

    @classmethod
    def of(cls, block: Block, query: RowLinear, width: int) -> RowLayer:
        mlp = block.mlp
        return cls(block, query, padded_out(block.attn, width), RowLinear.of(mlp[0].weight, mlp[0].bias),
                   RowLinear.of(mlp[2].weight, mlp[2].bias))


class RowStepper:
    """decode and append for one new row per chain, on a model's KVCache (buffered or incremental encoder).

    decode(pos, qry_embed) equals model.decode(cache.memory(), pos, qry_embed); append(pos, val, ctx_embed)
    equals model.encode_append(cache, pos, val, ctx_embed) for one sample per chain. The weights are copied
    when the stepper is made: make a new one after the model's weights change.
    """

    def __init__(self, model: PixelTransformer, cache: KVCache):
        if not cache.enc_proj:
            raise ValueError("RowStepper needs a cache from model.new_cache")
        self.model, self.cache = model, cache
        self.encoder = [RowLayer.of(blk, RowLinear.of(*cache.enc_proj[i]), cache.keys[i].shape[-1])
                        for i, blk in enumerate(model.encoder)]
        self.decoder = [RowLayer.of(blk, RowLinear.of(blk.attn.q.weight, blk.attn.q.bias), cache.mem_keys[i].shape[-1])
                        for i, blk in enumerate(model.decoder)]
        self.memory_kv = [RowLinear.of(blk.attn.kv.weight, blk.attn.kv.bias) for blk in model.decoder]  # [D, 2D]

    def block(self, layer: RowLayer, x: torch.Tensor, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
              pos: Positions) -> torch.Tensor:
        """The rest of a block after its query projection q [B, D]: x [B, D] -> [B, D]."""
        blk = layer.block
        q = q.unsqueeze(1)  # [B, 1, D]
        o = blk.attn.attend_heads(q, keys, values, x_pos=pos, projected=q)  # [B, H, 1, W']: Attention's arithmetic
        x = x + layer.out(o.reshape(x.shape[0], -1))  # [B, D]
        return x + layer.fc2(blk.mlp[1](layer.fc1(blk.norm2(x))))  # [B, D]

    def decode(self, pos: Positions, qry_embed: torch.Tensor) -> torch.Tensor:
        """Every chain's next query, its Positions [B, 1, P] and position embedding [B, 1, D] -> the
        distribution's parameters [B, 1, NP] (with the set's frame appended under value_norm)."""
        n = self.cache.length
        x = qry_embed.reshape(qry_embed.shape[0], -1)  # [B, D]
        for layer, keys, values in zip(self.decoder, self.cache.mem_keys, self.cache.mem_values):
            x = self.block(layer, x, layer.query(layer.block.norm1(x)), keys[:, :, :n], values[:, :, :n], pos)
        return self.model.head_output(self.model.decoder_norm(x).unsqueeze(1), self.cache.frame)  # [B, 1, NP]

    def append(self, pos: Positions, val: torch.Tensor, ctx_embed: torch.Tensor) -> None:
        """Append every chain's drawn sample, its Positions [B, 1, P], value [B, 1, V] and position embedding
        [B, 1, D], to the cache."""
        model, cache = self.model, self.cache
        s = cache.length
        if s == 0 or s + 1 > cache.keys[0].shape[2]:
            raise ValueError(f"append needs a cache holding S and room for one more row; it holds {s} of "
                             f"{cache.keys[0].shape[2]}")
        x = (ctx_embed + model.ctx_val_proj(val, cache.frame)).reshape(val.shape[0], -1)  # [B, D]
        d = x.shape[-1]
        for layer, keys, values in zip(self.encoder, cache.keys, cache.values):
            q, kv = layer.query(layer.block.norm1(x)).split([d, 2 * d], dim=-1)  # [B, D], [B, 2D]
            layer.block.attn.store(kv.unsqueeze(1), pos, keys, values, s)
            x = self.block(layer, x, q, keys[:, :, : s + 1], values[:, :, : s + 1], pos)
        memory = model.encoder_norm(x)  # [B, D]
        for proj, blk, keys, values in zip(self.memory_kv, model.decoder, cache.mem_keys, cache.mem_values):
            blk.attn.store(proj(memory).unsqueeze(1), pos, keys, values, s)  # [B, 1, 2D]
        cache.length = s + 1
