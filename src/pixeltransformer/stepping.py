"""One autoregressive sampling step of a cached encoder, one new sample per chain, in as few operations as it takes.

inference.sample draws N' values one at a time. Each step decodes the next query against the cached memory rows
and appends the drawn value to the cache: at one row per chain that is a few matrix-vector products per layer and
one attention row per layer (Attention.attend_rows, the arithmetic encode_append uses for later rows too).
PixelTransformer.decode and encode_append do the same for any number of rows, through modules built for whole
sets; at one row their bookkeeping (module calls, views) is a visible share of a step on a CPU. What RowStepper
does differently: the linear layers' weights are transposed once, when the stepper is made (an addmm over a
[D_in, D_out] matrix streams it faster than a linear over [D_out, D_in]), and a step's memory row is written
once for every decoder layer, with no projection.

Without an attention sink each layer is written out (RowLayer.written_out) and writes its cache row itself, in fp32
or under autocast (a GPU's bf16), where the weights are cast once per stepper rather than at every step; with a sink
it goes through Attention.attend_rows and store_rows, as encode_append does. The tests check its outputs and cache
against decode and encode_append: 1e-5 in fp32, and under autocast within 1.5x of their mean error against fp32
(2x their largest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .model import Block, RowCache, PixelTransformer, Positions


def _as(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """x in dtype, with no operation when it is already (a step counts its operations)."""
    return x if x.dtype == dtype else x.to(dtype)


def _residual(x: torch.Tensor, u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x + u @ weight + bias, x [B, D_out], u [B, D_in], weight [D_in, D_out] -> [B, D_out]: in one addmm with the
    bias added in place when the residual x is in the weights' dtype, else in x's dtype (fp32 under autocast; the
    weights are never wider than the residual: their dtype is the model's or autocast's)."""
    if x.dtype == weight.dtype:
        return torch.addmm(x, u, weight).add_(bias)  # [B, D_out]
    return x + torch.addmm(bias, u, weight)  # [B, D_out]


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
class LayerNormWeights:
    """A layer norm's weights, applied without the module call: [..., D] -> [..., D]."""

    shape: tuple[int, ...]
    weight: torch.Tensor  # [D]
    bias: torch.Tensor  # [D]
    eps: float

    @classmethod
    def of(cls, norm: torch.nn.LayerNorm) -> LayerNormWeights:
        return cls(tuple(norm.normalized_shape), norm.weight.detach(), norm.bias.detach(), norm.eps)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.shape, self.weight, self.bias, self.eps)  # [..., D]


@dataclass
class RowWeights:
    """A layer's step weights in one dtype (RowLayer.weights): the matrices a step multiplies by."""

    query: RowLinear  # [D, D]
    out: RowLinear  # [D, D]
    fc1: RowLinear  # [D, F]
    fc2: RowLinear  # [F, D]
    keys: torch.Tensor  # [H, Dh, D]: W_k,h, which carries head h's query into row space
    values: torch.Tensor  # [H, D, Dh]: W_v,h^T, which carries head h's weighted row back to head space
    out_bias: torch.Tensor  # [D]: W_out b_v + b_out

    def to(self, dtype: torch.dtype) -> RowWeights:
        def cast(lin: RowLinear) -> RowLinear:
            return RowLinear(lin.weight.to(dtype), lin.bias.to(dtype))
        return RowWeights(cast(self.query), cast(self.out), cast(self.fc1), cast(self.fc2), self.keys.to(dtype),
                          self.values.to(dtype), self.out_bias.to(dtype))


@dataclass
class RowLayer:
    """One transformer block's weights for a one-row step.

    Without an attention sink, on a cache in the model's dtype, the call is written out (attend_rows' arithmetic,
    fewer operations): at B = 8 a layer's matmuls read a few hundred KB each, and the forty-odd views, casts and
    module calls that attend_rows and the modules add per layer took about 3.4 ms of a 27 ms paper-preset step on a
    CPU (1024 such steps make `make bench`'s sampling run). The value bias is folded into the output projection's
    (the attention weights sum to 1, so W_out (o + b_v) + b_out = W_out o + (W_out b_v + b_out)). Under autocast
    the same arithmetic runs in its dtype on weights cast once (weights(dtype)), with the distance channels and
    the attention in fp32 as attend_rows keeps them: autocast itself would cast every weight at every step, as
    the transposed copies are not the module's parameters (a paper-preset step of 8 chains under bf16 autocast on a
    CPU ran 261 casts, 81 now, counted at torch's dispatch). With a sink it goes through Attention.attend_rows, which handles it."""

    block: Block  # its layer norms, activation and attention parameters (key/value weights, distance widths, sink)
    fp32: RowWeights  # the weights in the model's dtype
    norms: tuple[LayerNormWeights, LayerNormWeights]  # norm1's and norm2's
    activation: torch.nn.Module  # the feed-forward's GELU
    cast: dict[torch.dtype, RowWeights] = field(default_factory=dict)  # the weights in an autocast dtype

    @classmethod
    def of(cls, block: Block) -> RowLayer:
        attn = block.attn
        d, h, dh = attn.heads * attn.head_dim, attn.heads, attn.head_dim
        w_k, w_v = attn.kv.weight.detach()[:d], attn.kv.weight.detach()[d:]  # [D, D] each
        out = RowLinear.of(attn.out)
        weights = RowWeights(RowLinear.of(attn.q), out, RowLinear.of(block.mlp[0]), RowLinear.of(block.mlp[2]),
                             w_k.reshape(h, dh, d), w_v.reshape(h, dh, d).transpose(1, 2),
                             torch.addmm(out.bias, attn.kv.bias.detach()[d:].unsqueeze(0), out.weight).squeeze(0))
        return cls(block, weights, (LayerNormWeights.of(block.norm1), LayerNormWeights.of(block.norm2)),
                   block.mlp[1])

    def weights(self, dtype: torch.dtype) -> RowWeights:
        """The step weights in `dtype`, cast on first use."""
        if dtype == self.fp32.keys.dtype:
            return self.fp32
        if dtype not in self.cast:
            self.cast[dtype] = self.fp32.to(dtype)
        return self.cast[dtype]

    def norm1(self, x: torch.Tensor) -> torch.Tensor:
        """The block's first layer norm, [B, D] -> [B, D]."""
        return self.norms[0](x)  # [B, D]

    def __call__(self, x: torch.Tensor, h: torch.Tensor, rows: torch.Tensor, pos: Positions) -> torch.Tensor:
        """The block from its normed input h [B, D] on, against a row cache [B, 1, M, W]: x [B, D] -> [B, D],
        through Attention.attend_rows (a sink)."""
        w = self.fp32
        o = self.block.attn.attend_rows(w.query(h).unsqueeze(1), rows, pos)  # [B, 1, D]
        x = x + w.out(o.view(x.shape[0], -1))  # [B, D]
        return x + w.fc2(self.block.mlp[1](w.fc1(self.block.norm2(x))))  # [B, D]

    def written_out(self, x: torch.Tensor, h: torch.Tensor, rows: torch.Tensor, geo: torch.Tensor | None,
                    dtype: torch.dtype) -> torch.Tensor:
        """__call__ written out (no sink; see the class docstring) in `dtype`, the model's or autocast's: geo
        [B, H, P + 2] are the query's distance channels scaled by this layer's widths (None without the distance
        bias), fp32 like the cache's rows [B, 1, M, W] (W padded on a GPU; the padding is zeros)."""
        if dtype == self.fp32.keys.dtype:  # outside autocast (a CPU step): no context to enter, once per layer
            return self._written_out(x, h, rows, geo, dtype)
        with torch.autocast(x.device.type, enabled=False):
            return self._written_out(x, h, rows, geo, dtype)

    def _written_out(self, x: torch.Tensor, h: torch.Tensor, rows: torch.Tensor, geo: torch.Tensor | None,
                     dtype: torch.dtype) -> torch.Tensor:
        """written_out's arithmetic, with autocast off."""
        w = self.weights(dtype)
        b, (hd, dh, d) = x.shape[0], w.keys.shape
        q = w.query(_as(h, dtype)).view(b, hd, dh).transpose(0, 1)  # [H, B, Dh]
        qt = torch.bmm(q, w.keys).transpose(0, 1)  # [B, H, D]: the queries in row space
        if geo is not None:  # fp32, as in attend_rows
            qt = torch.cat([qt.float(), geo], dim=-1)  # [B, H, D + P + 2]
        if rows.shape[-1] > qt.shape[-1]:  # a GPU cache's padding channels
            qt = F.pad(qt, (0, rows.shape[-1] - qt.shape[-1]))  # [B, H, W]
        rows = _as(rows, qt.dtype)  # [B, 1, M, W]
        o = F.scaled_dot_product_attention(qt.unsqueeze(1), rows, rows, scale=dh ** -0.5)  # [B, 1, H, W]
        o = torch.bmm(_as(o[:, 0, :, :d], dtype).transpose(0, 1), w.values)  # [H, B, Dh]
        o = o.transpose(0, 1).reshape(b, d)  # [B, D]
        x = _residual(x, o, w.out.weight, w.out_bias)  # [B, D]
        u = self.activation(w.fc1(_as(self.norms[1](_as(x, self.norms[1].weight.dtype)), dtype)))  # [B, F]
        return _residual(x, u, w.fc2.weight, w.fc2.bias)  # [B, D]


class RowStepper:
    """decode and append for one new row per chain, on a model's RowCache (buffered or incremental encoder).

    decode(pos, qry_embed) equals model.decode(model.cached_memory(cache), pos, qry_embed); append(pos, val,
    ctx_embed) equals model.encode_append(cache, pos, val, ctx_embed) for one sample per chain. The linear layers'
    weights are copied when the stepper is made, and cast there when it is made under autocast (the key/value weights
    and the fp32 biases are views of the module's): make a new one after the model's weights change.
    """

    def __init__(self, model: PixelTransformer, cache: RowCache):
        self.model, self.cache = model, cache
        self.encoder = [RowLayer.of(blk) for blk in model.encoder]
        self.decoder = [RowLayer.of(blk) for blk in model.decoder]
        attn = model.decoder[0].attn  # every layer has its width, heads and distance channels
        self.width, self.extra = attn.heads * attn.head_dim, attn.used_extra
        # the written-out layers (RowLayer.written_out) need no sink and a cache in the model's dtype
        self.dtype = model.decoder_norm.weight.dtype
        self.plain = not attn.sink and cache.memory_rows.dtype == self.dtype
        if (dtype := self._step_dtype(cache.memory_rows.device)) is not None and dtype != self.dtype:
            for layer in self.encoder + self.decoder:  # cast now: a step never mixes weights of two moments
                layer.weights(dtype)
        def scales(blocks) -> torch.Tensor | None:  # every layer's widths l_h: [L, 1, H, 1]
            return torch.stack([blk.attn.query_scale().detach() for blk in blocks]).unsqueeze(1).unsqueeze(-1) \
                if attn.distance and len(blocks) else None
        self.encoder_scales, self.decoder_scales = scales(model.encoder), scales(model.decoder)

    def _step_dtype(self, device: torch.device) -> torch.dtype | None:
        """The dtype the written-out layers compute in on `device` (autocast's or the model's), or None for the
        general ones."""
        if not self.plain:
            return None
        kind = device.type
        return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else self.dtype

    def _query_channels(self, pos: Positions, scales: torch.Tensor | None) -> torch.Tensor | None:
        """The step's query distance channels scaled by every layer's widths, in one operation: [L, B, H, P + 2]
        (the per-layer Attention.scaled_query_channels), or None without the distance bias."""
        if scales is None:
            return None
        attn = self.model.decoder[0].attn
        geo = pos.query_channels(attn.extra)[:, 0, :, : self.extra]  # [B, 1, P + 2]
        return geo.unsqueeze(0) * scales  # [L, B, H, P + 2]

    def _store(self, rows: torch.Tensor, s: int, src: torch.Tensor, keys: torch.Tensor | None) -> None:
        """Attention.store_rows for one row per chain: src [B, D] and its key channels [B, P + 2] into row s."""
        rows[:, 0, s, : self.width] = src
        if keys is not None:
            rows[:, 0, s, self.width : self.width + self.extra] = keys

    def decode(self, pos: Positions, qry_embed: torch.Tensor) -> torch.Tensor:
        """Every chain's next query, its Positions [B, 1, P] and position embedding [B, 1, D] -> the
        distribution's parameters [B, 1, NP] (with the set's frame appended under value_norm)."""
        rows = self.cache.memory_rows[:, :, : self.cache.length]  # [B, 1, n, W]
        x = qry_embed.reshape(qry_embed.shape[0], -1)  # [B, D]
        if dtype := self._step_dtype(x.device):
            geo = self._query_channels(pos, self.decoder_scales)  # [L, B, H, P + 2] or None
            for i, layer in enumerate(self.decoder):
                x = layer.written_out(x, layer.norm1(x), rows, None if geo is None else geo[i], dtype)  # [B, D]
        else:
            for layer in self.decoder:
                x = layer(x, layer.norm1(x), rows, pos)  # [B, D]
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
        if dtype := self._step_dtype(x.device):
            geo = self._query_channels(pos, self.encoder_scales)  # [L, B, H, P + 2] or None
            attn = model.decoder[0].attn
            keys = pos.key_channels(attn.extra)[:, 0, : self.extra] if attn.distance else None  # [B, P + 2]
            for i, (layer, rows) in enumerate(zip(self.encoder, cache.rows)):
                h = layer.norm1(x)  # [B, D]
                self._store(rows, s, h, keys)
                x = layer.written_out(x, h, rows[:, :, : s + 1], None if geo is None else geo[i], dtype)  # [B, D]
            self._store(cache.memory_rows, s, model.encoder_norm(x), keys)  # one row for every decoder layer
        else:
            for layer, rows in zip(self.encoder, cache.rows):
                h = layer.norm1(x)  # [B, D]
                layer.block.attn.store_rows(h.unsqueeze(1), pos, rows, s)
                x = layer(x, h, rows[:, :, : s + 1], pos)  # [B, D]
            memory = model.encoder_norm(x).unsqueeze(1)  # [B, 1, D]: one row for every decoder layer (encode_append)
            model.decoder[0].attn.store_rows(memory, pos, cache.memory_rows, s)
        cache.length = s + 1
