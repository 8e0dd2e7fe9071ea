"""PixelTransformer: a set encoder over (position, value) samples and a query decoder.

encode(ctx_pos, ctx_val) -> memory runs self-attention over the context set (no positional order, so with the
bidirectional and buffered encoders the result is permutation invariant in S; the incremental encoder is causal
over S, below). decode(memory, qry_pos) lets every query attend to the memory and never to
the other queries, so any number of queries can be decoded in chunks from one encode call.

Encoder variants (``encoder=``):

- "bidirectional": the paper's set encoder; every sample attends to every sample.
- "buffered": the observed samples S attend to each other bidirectionally (S stays a set), and each sample
  drawn after them (the buffer) attends to S and to the buffer samples before it. encode(..., observed=m)
  reads the first m samples as S and the rest as the buffer in the given order; with no buffer it is exactly
  the bidirectional encoder. At sampling time S is encoded once and each drawn value costs one row of
  attention per layer against cached rows (RowCache).
- "incremental": causal over the whole set, in the order given (not invariant to the order of S).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import ENCODERS, NetConfig
from .encoding import Float32Linear, FourierFeatures, ValueEncoding
from .kernels import GELU
from .loopbar import loop_progress
from .signal import SignalSpec


@dataclass
class MemoryKV:
    """The decoder's keys/values of one memory, per decoder layer. They depend only on the memory, so
    computing them once per encode saves every further decode chunk or sampling step the projection."""

    keys: list[torch.Tensor]  # per decoder layer [B, H, M, key_dim]
    values: list[torch.Tensor]  # per decoder layer [B, H, M, key_dim]
    frame: torch.Tensor | None = None  # [B, 1, V + 1] the set's mean and log scale (model.net.value_norm)


# where an encoding shows its progress on a CPU, an encoder layer's attention over S takes this many query rows at a
# time once S holds twice as many: at |S| = 65 536 a layer took minutes between two lines. Each query row reads every
# key whatever rows come with it, so the rows come out as one call gives them (to the bit, measured on an AVX2 CPU:
# keep it a multiple of 256, the CPU attention kernel's block of query rows, so the spans' blocks are the call's)
ENCODE_ROWS = 4096


def row_spans(total: int, rows: int) -> list[tuple[int, int]]:
    """[(start, stop)] of `total` rows `rows` at a time, the last span taking the rest (none shorter than `rows`):
    one span where total < 2 rows."""
    starts = range(0, max(1, total - rows + 1), rows)
    return [(a, starts[i + 1] if i + 1 < len(starts) else total) for i, a in enumerate(starts)]


def buffer_mask(total: int, observed: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Who may attend to whom in a set of `total` samples whose first `observed` are S and the rest a causal
    buffer: [N, N] bool, row i may read column j when j < observed or j <= i."""
    idx = torch.arange(total, device=device)
    return (idx.unsqueeze(0) < observed) | (idx.unsqueeze(0) <= idx.unsqueeze(1))  # [N, N]


@dataclass
class RowCache:
    """What a sampling step reads of the tokens seen so far, preallocated for `capacity` tokens: per encoder
    layer each token's normed input to the layer (what the layer's keys and values are projected from), and
    once for all the decoder layers each token's memory row (the encoder's output), each row with its distance
    channels. Attention.attend_rows reads them without projecting keys or values, so a token takes D + P + 2
    channels per encoder layer and D + P + 2 for the whole decoder, where keys and values took 2 D (plus
    distance channels) per layer of either. The axis of size 1 is the attention kernel's head axis: every head
    reads the same rows."""

    rows: list[torch.Tensor]  # per encoder layer [B, 1, C, W], W = Attention.row_dim
    memory_rows: torch.Tensor  # [B, 1, C, W], read by every decoder layer (all have the same row width)
    length: int = 0
    frame: torch.Tensor | None = None  # [B, 1, V + 1] the frame of S (buffered encoder with value_norm)

    @property
    def capacity(self) -> int:
        return self.memory_rows.shape[2]


class Positions:
    """Token positions [B, N, P] and the distance-bias channels built from them, once for every layer and
    chunk that reads them (an encode passes one Positions through all its layers)."""

    def __init__(self, pos: torch.Tensor):
        self.pos = pos  # [B, N, P]
        self._memo: dict[object, tuple[torch.Tensor, int]] = {}  # key -> (channels, the axis of N)

    def _cached(self, key: object, axis: int, build) -> torch.Tensor:
        if key not in self._memo:
            with torch.autocast(self.pos.device.type, enabled=False):  # fp32: see Attention.keys_values
                self._memo[key] = (build(), axis)
        return self._memo[key][0]

    def key_channels(self, extra: int) -> torch.Tensor:
        """[x, |x|^2, 1, 0...] in fp32: [B, N, E]."""
        def build() -> torch.Tensor:
            pos = self.pos.float()
            b, n, p = pos.shape
            geo = pos.new_zeros(b, n, extra)  # [B, N, E]
            geo[..., :p] = pos
            geo[..., p] = pos.pow(2).sum(-1)
            geo[..., p + 1] = 1.0
            return geo
        return self._cached(("keys", extra), 1, build)

    def query_channels(self, extra: int) -> torch.Tensor:
        """[2 x, -1, -|x|^2, 0...] in fp32 (each head scales them by its l): [B, 1, N, E]."""
        def build() -> torch.Tensor:
            pos = self.pos.float()
            b, n, p = pos.shape
            geo = pos.new_zeros(b, 1, n, extra)  # [B, 1, N, E]
            geo[..., :p] = 2.0 * pos.unsqueeze(1)
            geo[..., p] = -1.0
            geo[..., p + 1] = -pos.pow(2).sum(-1).unsqueeze(1)
            return geo
        return self._cached(("queries", extra), 2, build)

    def scaled_query_channels(self, attn: Attention) -> torch.Tensor:
        """The query channels scaled by each head's l of one attention layer, in fp32: [B, H, N, E]."""
        return self._cached(attn, 2, lambda: attn.query_scale().view(1, -1, 1, 1) * self.query_channels(attn.extra))

    def rows(self, start: int, stop: int) -> Positions:
        """Positions start..stop of every set, with the channels built so far sliced rather than rebuilt."""
        out = Positions(self.pos[:, start:stop])  # [B, n, P]
        out._memo = {key: (c.narrow(axis, start, stop - start), axis) for key, (c, axis) in self._memo.items()}
        return out


PosLike = torch.Tensor | Positions


def as_positions(pos: PosLike | None) -> Positions | None:
    return pos if pos is None or isinstance(pos, Positions) else Positions(pos)


class Attention(nn.Module):
    """Multi-head attention through scaled_dot_product_attention.

    With `distance_bias`, head h adds -|x_q - x_k|^2 / (2 sigma_h^2) to its logits, where x are the tokens'
    positions in [-1, 1]^P and sigma_h is learned (log scale), initialised from sigma_min to sigma_max across the
    heads. Nearby samples then carry weight from the first step (a Nadaraya-Watson average at several scales),
    instead of waiting for the query/key projections to discover locality from the Fourier features. The bias is
    folded into the dot product with P + 2 extra channels (q: [2 l x_q, -l, -l |x_q|^2], k: [x_k, |x_k|^2, 1]
    with l = 1 / (2 sigma^2)), so the fused kernels keep working and a cache stores only geometry with each row
    (store_rows): the learned widths live on the query side. Values are zero-padded to the same width: with
    unequal q/k and v widths the CPU kernel falls back to the unfused path, 2.4x slower at 1024 tokens.

    With `sink`, every head also attends to one learned key/value. With the distance bias the sink scores as a
    source at a learned distance r_h from every query (bias -l r^2; r starts at 2 sigma_h): a query with a
    source nearer than r keeps reading it, and a query with none weights the sink rather than renormalising
    onto its nearest source, whose identity switches abruptly between far-apart samples. The sink row is
    appended to the keys at each call, so caches never hold it.
    """

    def __init__(self, width: int, heads: int, pos_dims: int = 0, sigma_range: tuple[float, float] | None = None,
                 sink: bool = False):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be divisible by heads {heads}")
        self.heads = heads
        self.head_dim = width // heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)
        self.distance = sigma_range is not None
        # extra key channels: P + 2, padded so the key width stays a multiple of 8 (what fused GPU kernels like)
        self.extra = (-(self.head_dim + pos_dims + 2) % 8 + pos_dims + 2) if self.distance else 0
        self.key_dim = self.head_dim + self.extra
        self.used_extra = pos_dims + 2 if self.distance else 0  # the channels that are not padding
        if self.distance:
            lo, hi = sigma_range
            if not 0 < lo <= hi:
                raise ValueError(f"distance_sigma must be 0 < min <= max, got {sigma_range}")
            self.log_sigma = nn.Parameter(torch.linspace(math.log(lo), math.log(hi), heads))  # [H]
        self.sink = sink
        if sink:  # content logit 0 and a zero value at the start: weight is taken, nothing is added
            self.sink_key = nn.Parameter(torch.zeros(heads, self.head_dim))  # [H, Dh]
            self.sink_value = nn.Parameter(torch.zeros(heads, self.head_dim))  # [H, Dh]
            if self.distance:
                self.log_sink_radius = nn.Parameter(self.log_sigma.detach().clone() + math.log(2.0))  # [H]

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # [B, H, N, Dh]

    def _need_pos(self, pos: PosLike | None) -> Positions:
        if pos is None:
            raise ValueError("attention with a distance bias needs the tokens' positions")
        return as_positions(pos)

    def keys_values(self, src: torch.Tensor, src_pos: PosLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Source tokens [B, M, D] (and positions [B, M, P]) -> keys and values [B, H, M, key_dim]."""
        k, v = self.kv(src).chunk(2, dim=-1)  # [B, M, D] each
        k, v = self.split(k), self.split(v)  # [B, H, M, Dh]
        if self.distance:
            geo = self._need_pos(src_pos).key_channels(self.extra)  # [B, M, E] fp32
            # fp32 even under autocast: the bias channels cancel terms of size l |x|^2 (l up to 200 at sigma 0.05),
            # which half precision rounds by whole logits
            k = torch.cat([k.float(), geo.unsqueeze(1).expand(-1, self.heads, -1, -1)], dim=-1)  # [B, H, M, key_dim]
            v = F.pad(v.float(), (0, self.extra))  # [B, H, M, key_dim]; the zero channels come out as zeros
        return k, v

    def row_dim(self, device: torch.device | str) -> int:
        """The width of a row cache (store_rows): the D channels of each source row and its P + 2 distance
        channels; on a GPU padded to a multiple of 8, what fused kernels like (the padding stays zero)."""
        d = self.heads * self.head_dim
        if not self.distance:
            return d
        used = d + self.used_extra
        return used + (-used % 8 if torch.device(device).type == "cuda" else 0)

    def store_rows(self, src: torch.Tensor, src_pos: PosLike | None, rows: torch.Tensor, start: int) -> None:
        """Write source rows [B, n, D] (the layer's normed inputs; what keys_values would project) and their
        distance channels into rows start..start+n of a row cache [B, 1, C, row_dim]."""
        n, d = src.shape[1], src.shape[2]
        rows[:, 0, start : start + n, :d] = src
        if self.distance:
            geo = self._need_pos(src_pos).key_channels(self.extra)[..., : self.used_extra]  # [B, n, P + 2]
            rows[:, 0, start : start + n, d : d + self.used_extra] = geo

    def keys_values_of_rows(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A row cache's rows [B, M, row_dim] (in any float dtype) -> keys and values [B, H, M, W'], as
        keys_values projects them (the values' distance channels zeros): W' = Dh + P + 2, or key_dim (a multiple
        of 8) from a padded cache (row_dim on a GPU, where an fp32 attention kernel needs aligned widths)."""
        d = self.heads * self.head_dim
        k, v = self.kv(rows[..., :d].to(self.kv.weight.dtype)).chunk(2, dim=-1)  # [B, M, D] each
        k, v = self.split(k), self.split(v)  # [B, H, M, Dh]
        if self.distance:
            width = self.key_dim if rows.shape[-1] > d + self.used_extra else self.head_dim + self.used_extra
            geo = rows[..., d : d + self.used_extra].float()  # [B, M, P + 2]
            k = torch.cat([k.float(), geo.unsqueeze(1).expand(-1, self.heads, -1, -1)], dim=-1)  # [B, H, M, Dh + P + 2]
            k = F.pad(k, (0, width - k.shape[-1]))  # [B, H, M, W']
            v = F.pad(v.float(), (0, width - self.head_dim))  # [B, H, M, W']
        return k, v

    def attend_rows(self, q: torch.Tensor, rows: torch.Tensor, x_pos: PosLike | None = None,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
        """Projected queries q = self.q(x) [B, n, D] against a row cache [B, 1, M, row_dim] -> the heads'
        outputs [B, n, D], before self.out: attend() against the keys and values keys_values_of_rows would
        project, without projecting them. Head h's logit q_h . (W_k,h r + b_k,h) is (W_k,h^T q_h) . r plus a
        term equal for every row, which softmax ignores; its output sum_j p_j (W_v,h r_j + b_v,h) is
        W_v,h (sum_j p_j r_j) + b_v,h, as the weights sum to 1. So the cache holds one D-wide row per token,
        whatever the number of heads (keys and values hold 2 D), and one kernel call reads it as keys and values
        with the heads as H x n query rows; the distance channels ride along in the values and are dropped.
        mask: [n, M] bool (True: may attend), or None for every row."""
        b, n, d = q.shape
        h, dh = self.heads, self.head_dim
        w_k, w_v = self.kv.weight[:d].view(h, dh, d), self.kv.weight[d:].view(h, dh, d)  # [H, Dh, D] each
        q_heads = q.view(b * n, h, dh).transpose(0, 1)  # [H, B n, Dh]
        qt = torch.bmm(q_heads, w_k).view(h, b, n, d).transpose(0, 1)  # [B, H, n, D]: the queries in row space
        if self.distance:  # fp32, as in keys_values
            geo = self._need_pos(x_pos).scaled_query_channels(self)[..., : self.used_extra]  # [B, H, n, P + 2]
            with torch.autocast(q.device.type, enabled=False):
                qt = torch.cat([qt.float(), geo], dim=-1)  # [B, H, n, D + P + 2]
                if rows.shape[-1] > qt.shape[-1]:  # a GPU cache's padding channels
                    qt = F.pad(qt, (0, rows.shape[-1] - qt.shape[-1]))  # [B, H, n, W]
            rows = rows.float()
        qt = qt.reshape(b, 1, h * n, -1)  # [B, 1, H n, W]: head-major query rows
        if mask is not None:
            mask = mask.repeat(h, 1)  # [H n, M]
        half = self.distance and torch.is_autocast_enabled(q.device.type)  # fp32, as in kernel
        with torch.autocast(q.device.type, enabled=False) if half else contextlib.nullcontext():
            if self.sink:
                o, kept = self._attend_rows_with_sink(q, qt, rows, x_pos, mask)  # [B, 1, H n, W], [B, H, n, 1]
            else:
                rows = rows.to(qt.dtype)  # a cache in another dtype than the model's
                o = F.scaled_dot_product_attention(qt, rows, rows, attn_mask=mask, scale=dh ** -0.5)  # [B, 1, H n, W]
                kept = None
        o = o.reshape(b, h, n, -1)[..., :d].transpose(0, 1).reshape(h, b * n, d)  # [H, B n, D]
        out = torch.bmm(o, w_v.transpose(1, 2)).view(h, b, n, dh)  # [H, B, n, Dh]
        bias = self.kv.bias[d:].view(h, 1, 1, dh)  # [H, 1, 1, Dh]
        if kept is not None:  # the sink took weight 1 - kept: the value bias comes with the rest
            kept = kept.permute(1, 0, 2, 3)  # [H, B, n, 1]
            out = out + kept * bias + (1 - kept) * self.sink_value.view(h, 1, 1, dh)  # [H, B, n, Dh]
        else:
            out = out + bias
        return out.permute(1, 2, 0, 3).reshape(b, n, d)  # [B, n, D]

    def _attend_rows_with_sink(self, q: torch.Tensor, qt: torch.Tensor, rows: torch.Tensor, x_pos: PosLike | None,
                               mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """attend_rows' weighted sum of rows when every head also reads the sink (sources): written out, as the
        sink is a key of head space, not of row space. q [B, n, D], qt [B, 1, H n, W] -> the rows' weighted sum
        [B, 1, H n, W] and the weight the rows kept [B, H, n, 1]."""
        b, n, d = q.shape
        h, dh = self.heads, self.head_dim
        scale = dh ** -0.5
        q_heads = q.view(b, n, h, dh).transpose(1, 2).to(qt.dtype)  # [B, H, n, Dh]
        rows = rows.to(qt.dtype)  # a cache in another dtype than the model's
        logits = (qt @ rows.transpose(-1, -2)).view(b, h, n, -1)  # [B, H, n, M]
        key_bias = (q_heads * self.kv.bias[:d].view(h, 1, dh)).sum(-1, keepdim=True)  # [B, H, n, 1]
        logits = (logits + key_bias) * scale  # [B, H, n, M]: the key bias, the same for every row but not the sink
        if mask is not None:
            logits = logits.masked_fill(~mask.view(h, n, -1), float("-inf"))  # [B, H, n, M]
        sink = (q_heads * self.sink_key.view(h, 1, dh)).sum(-1, keepdim=True)  # [B, H, n, 1]
        if self.distance:  # the sink sits at distance r from every query: [0, r^2, 0] against the query channels
            geo = self._need_pos(x_pos).scaled_query_channels(self)  # [B, H, n, E]
            r2 = torch.exp(2.0 * self.log_sink_radius.float()).view(h, 1, 1)  # [H, 1, 1]
            sink = sink.float() + geo[..., self.used_extra - 2 : self.used_extra - 1] * r2
        p = torch.cat([logits, sink * scale], dim=-1).softmax(-1)  # [B, H, n, M + 1]
        o = p[..., :-1].reshape(b, 1, h * n, -1) @ rows  # [B, 1, H n, W]
        return o, 1 - p[..., -1:]

    def query_scale(self) -> torch.Tensor:
        """Each head's l = 1 / (2 sigma^2), times sqrt(Dh) to undo the attention's 1 / sqrt(Dh): [H] fp32."""
        return 0.5 * torch.exp(-2.0 * self.log_sigma.float()) * self.head_dim ** 0.5  # [H]

    def queries(self, x: torch.Tensor, x_pos: PosLike | None = None, projected: torch.Tensor | None = None) -> torch.Tensor:
        """Query tokens [B, N, D] (and positions [B, N, P]) -> [B, H, N, key_dim]. `projected`: self.q(x)
        [B, N, D] when already computed (a fused projection)."""
        q = self.split(self.q(x) if projected is None else projected)  # [B, H, N, Dh]
        if self.distance:
            geo = self._need_pos(x_pos).scaled_query_channels(self)  # [B, H, N, E] fp32
            with torch.autocast(x.device.type, enabled=False):  # fp32, as the keys' channels (see keys_values)
                q = torch.cat([q.float(), geo], dim=-1)  # [B, H, N, key_dim]
        return q

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
               x_pos: PosLike | None = None, mask: torch.Tensor | None = None,
               projected: torch.Tensor | None = None) -> torch.Tensor:
        return self.combine(self.attend_heads(x, k, v, causal, x_pos, mask, projected), x.dtype)  # [B, N, D]

    def attend_heads(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                     x_pos: PosLike | None = None, mask: torch.Tensor | None = None,
                     projected: torch.Tensor | None = None) -> torch.Tensor:
        """attend() before the heads are combined: [B, H, N, W], W = the keys' width; the channels past
        head_dim are the values' zero padding."""
        q = self.queries(x, x_pos, projected)  # [B, H, N, key_dim]; fp32 with the distance bias
        if self.sink and causal and mask is None:  # top-left aligned, as SDPA's is_causal
            mask = torch.ones(q.shape[2], k.shape[2], dtype=torch.bool, device=q.device).tril()  # [N, M]
        return self.kernel(q, *self.sources(k, v, mask), causal)  # [B, H, N, W]

    def kernel(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
               causal: bool = False) -> torch.Tensor:
        """Queries [B, H, N, key_dim] against keys and values from sources() [B, H, M, W] -> [B, H, N, W]."""
        if self.distance:  # a cache without the padding channels: they are zeros in q and k alike
            q = q[..., : k.shape[-1]]  # [B, H, N, W]
        # autocast would cast the kernel's inputs to half precision (scaled_dot_product_attention is on its list)
        # and round the bias's cancelling terms inside it: with the distance bias the attention runs in fp32
        half = self.distance and torch.is_autocast_enabled(q.device.type)
        with torch.autocast(q.device.type, enabled=False) if half else contextlib.nullcontext():
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None,
                                                  scale=self.head_dim ** -0.5)  # [B, H, N, W]

    def attend_in_spans(self, x: torch.Tensor, x_pos: PosLike | None, spans: list[tuple[int, int]]
                        ) -> Generator[int, None, torch.Tensor]:
        """Self-attention of tokens [B, N, D] without causality or mask, as forward(x, x) computes it, its queries
        attended a span of rows at a time: yields each span's stop, and returns [B, N, D]. Keys, values (the sink
        row joined) and the query projection are computed for every row at once, as the one call does."""
        k, v, _ = self.sources(*self.keys_values(x, x_pos))  # [B, H, N (+ 1), key_dim]
        projected = self.q(x)  # [B, N, D]
        pos = as_positions(x_pos)
        if self.distance:  # the query channels of every row, built once: each span's Positions slices them
            self._need_pos(pos).scaled_query_channels(self)
        parts = []  # per span [B, H, n, W]
        for start, stop in spans:
            parts.append(self.kernel(self.queries(x[:, start:stop], None if pos is None else pos.rows(start, stop),
                                                  projected[:, start:stop]), k, v))  # [B, H, n, W]
            yield stop
        return self.combine(torch.cat(parts, dim=2), x.dtype)  # [B, N, D]

    def sources(self, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Keys/values [B, H, M, W] and a mask [N, M] as kernel() reads them: fp32 with the distance bias (they may
        come in another dtype, cached_memory's); with the sink, its row last (M + 1), which every query reads."""
        if self.distance:
            k, v = k.float(), v.float()  # [B, H, M, W]
        if not self.sink:
            return k, v, mask
        b, h, _, w = k.shape
        pad = (0, w - self.head_dim)
        sink_k = F.pad(self.sink_key.to(k.dtype), pad)  # [H, W]
        if self.distance:  # the key channels [x, |x|^2, 1] of a source at distance r from every query: [0, r^2, 0]
            geo = torch.zeros_like(sink_k)  # [H, W]
            geo[:, self.head_dim + self.used_extra - 2] = torch.exp(2.0 * self.log_sink_radius.float())  # r^2
            sink_k = sink_k + geo
        sink_k = sink_k.view(1, h, 1, w).expand(b, -1, -1, -1)  # [B, H, 1, W]
        sink_v = F.pad(self.sink_value.to(v.dtype), pad).view(1, h, 1, w).expand(b, -1, -1, -1)  # [B, H, 1, W]
        if mask is not None:
            mask = F.pad(mask, (0, 1), value=True)  # [N, M + 1]
        return torch.cat([k, sink_k], dim=2), torch.cat([v, sink_v], dim=2), mask

    def combine(self, o: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return self.out(o[..., : self.head_dim].to(dtype).transpose(1, 2).flatten(2))  # [B, H, N, W] -> [B, N, D]

    def forward(self, x: torch.Tensor, src: torch.Tensor, causal: bool = False, x_pos: PosLike | None = None,
                src_pos: PosLike | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        k, v = self.keys_values(src, src_pos)
        return self.attend(x, k, v, causal, x_pos, mask)


class FeedForward(nn.Sequential):
    """Linear, GELU, linear. The GELU is kernels.GELU: nn.GELU's values, without oneDNN's kernel per |S| on a CPU."""

    def __init__(self, width: int, hidden: int):
        super().__init__(nn.Linear(width, hidden), GELU(), nn.Linear(hidden, width))


class Block(nn.Module):
    """Pre-norm transformer block; self-attention when src is None, else attention to src."""

    def __init__(self, width: int, heads: int, ffn: int, pos_dims: int = 0,
                 sigma_range: tuple[float, float] | None = None, sink: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads, pos_dims, sigma_range, sink)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = FeedForward(width, ffn)

    def forward(self, x: torch.Tensor, src: torch.Tensor | None = None, causal: bool = False,
                x_pos: PosLike | None = None, src_pos: PosLike | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        if src is None:
            src, src_pos = h, x_pos
        x = x + self.attn(h, src, causal, x_pos, src_pos, mask)  # [B, N, D]
        return x + self.mlp(self.norm2(x))  # [B, N, D]

    def forward_in_spans(self, x: torch.Tensor, x_pos: PosLike | None, spans: list[tuple[int, int]],
                         keep: Callable[[torch.Tensor], None] | None = None) -> Generator[int, None, torch.Tensor]:
        """forward(x) without causality or mask, its attention's queries a span of rows at a time
        (Attention.attend_in_spans): yields each span's stop, and returns [B, N, D]. `keep`: given the layer's
        normed inputs [B, N, D] (what a row cache stores)."""
        h = self.norm1(x)  # [B, N, D]
        if keep is not None:
            keep(h)
        x = x + (yield from self.attn.attend_in_spans(h, x_pos, spans))  # [B, N, D]
        return x + self.mlp(self.norm2(x))  # [B, N, D]

    def cross(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x_pos: PosLike | None = None) -> torch.Tensor:
        """The block with precomputed source keys/values [B, H, M, *]: x [B, N, D] -> [B, N, D]."""
        x = x + self.attn.attend(self.norm1(x), k, v, x_pos=x_pos)  # [B, N, D]
        return x + self.mlp(self.norm2(x))  # [B, N, D]


class PixelTransformer(nn.Module):
    """f(x, S) -> distribution parameters at x.

    Args:
        pos_dims: P.  val_dims: V.  num_params: outputs per query (given by the distribution head).
        val_range: value range used to normalise input values.
        width, encoder_layers, decoder_layers, heads, ffn: transformer size (configs/model/*.yaml).
        fourier_features, fourier_scale, fourier_seed: random Fourier position features.
        encoder: "bidirectional" (the paper's set encoder), "buffered" (S a set plus a causal buffer of drawn
            samples; cached sampling) or "incremental" (causal in sample order); see the module docstring.
        distance_bias: every attention (encoder and decoder) adds a learned Gaussian distance bias per head
            (see Attention); distance_sigma: the initial widths' range, in position units ([-1, 1] per axis).
        value_norm: encode each context set in its own frame (mean m, scale s; see ValueEncoding) and append
            the frame [m, log s] to every query's output, so the distribution is predicted in the set's frame
            (BinnedGaussian(framed=True) maps it back). With the buffered encoder the frame is that of S alone
            (the buffer is encoded in it); the incremental encoder cannot have one: its cache would see the
            frame move as samples are added.
        attention_sink: every attention also reads one learned key/value per head, at a learned distance from
            every query (see Attention), so "no source nearby" has somewhere to put its weight.
    """

    def __init__(
        self,
        pos_dims: int,
        val_dims: int,
        num_params: int,
        val_range: tuple[float, float] = (0.0, 1.0),
        width: int = 128,
        encoder_layers: int = 2,
        decoder_layers: int = 2,
        heads: int = 4,
        ffn: int = 256,
        fourier_features: int = 128,
        fourier_scale: float = 4.0,
        fourier_seed: int = 0,
        encoder: str = "bidirectional",
        distance_bias: bool = True,
        distance_sigma: tuple[float, float] = (0.05, 1.0),
        value_norm: bool = False,
        attention_sink: bool = False,
    ):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}; got {encoder!r}")
        if decoder_layers < 1 or encoder_layers < 0:
            raise ValueError(f"model.net needs decoder_layers >= 1 (queries read S only through the decoder) and "
                             f"encoder_layers >= 0; got {decoder_layers} and {encoder_layers}")
        if value_norm and encoder == "incremental":
            raise ValueError("model.net.value_norm needs encoder='bidirectional' or 'buffered': the incremental "
                             "encoder's cache cannot follow a frame that moves as samples are added")
        self.encoder_kind = encoder
        self.pos_dims, self.val_dims = pos_dims, val_dims
        self.fourier = FourierFeatures(pos_dims, fourier_features, fourier_scale, fourier_seed)
        # the position embeddings run in float32 under autocast too: the features carry the raw position, which
        # float16 holds only up to 6.55e4
        self.ctx_pos_proj = Float32Linear(self.fourier.out_dims, width)
        self.value_norm = value_norm
        self.ctx_val_proj = ValueEncoding(val_dims, val_range, width, standardize=value_norm)
        self.qry_pos_proj = Float32Linear(self.fourier.out_dims, width)
        sig = tuple(distance_sigma) if distance_bias else None
        def blocks(n: int) -> nn.ModuleList:
            return nn.ModuleList(Block(width, heads, ffn, pos_dims, sig, attention_sink) for _ in range(n))

        self.encoder = blocks(encoder_layers)
        self.encoder_norm = nn.LayerNorm(width)
        self.decoder = blocks(decoder_layers)
        self.decoder_norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_params)
        self.apply(self._init)  # hidden layers and head: std 0.02 (near-uniform bins, unit offsets and scales)
        # The input embeddings start at unit scale (fan-in): with std 0.02 the value projection
        # (V = 1-3 inputs) starts ~10x smaller than the position projection (2F + P inputs), so the context
        # values are nearly invisible to the encoder (fixing it gained 0.1-0.26 nats at 800 polynomial steps).
        for proj in (self.ctx_pos_proj, self.qry_pos_proj, self.ctx_val_proj.proj):
            self._init_fan_in(proj)

    @classmethod
    def from_config(cls, config: NetConfig, spec: SignalSpec, num_params: int) -> "PixelTransformer":
        """The network a NetConfig describes, for spec's signals and a head of num_params outputs."""
        # buffer_prob (the training split) and chunk (inference) are the module's; the rest are this class's
        options = {k: v for k, v in asdict(config).items() if k not in ("buffer_prob", "chunk")}
        return cls(spec.pos_dims, spec.val_dims, num_params, tuple(spec.val_range), **options)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    @staticmethod
    def _init_fan_in(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=m.in_features ** -0.5)
            nn.init.zeros_(m.bias)

    def frame(self, ctx_val: torch.Tensor) -> torch.Tensor | None:
        """The context set's frame [B, 1, V + 1] (mean, log scale) with value_norm, else None."""
        return self.ctx_val_proj.frame(ctx_val) if self.value_norm else None

    def embed_context(self, ctx_pos: torch.Tensor, ctx_val: torch.Tensor,
                      frame: torch.Tensor | None = None) -> torch.Tensor:
        return self.ctx_pos_proj(self.fourier(ctx_pos)) + self.ctx_val_proj(ctx_val, frame)  # [B, K, D]

    def _observed(self, total: int, observed: int | None) -> int:
        """How many of `total` samples are S: all of them unless the buffered encoder is given a split."""
        if observed is None or self.encoder_kind != "buffered":
            return total
        if not 1 <= observed <= total:
            raise ValueError(f"observed must be between 1 and the {total} samples given, got {observed}")
        return observed

    def encode_rows(self, ctx_pos: PosLike, ctx_val: torch.Tensor, frame: torch.Tensor | None = None,
                    observed: int | None = None, progress: str | None = None) -> torch.Tensor:
        """Context set [B, K, P], [B, K, V] -> the encoder's output rows [B, K, D]. With value_norm the rows
        are encoded in `frame` (by default that of S). The buffered encoder reads the first `observed` samples
        as S and the rest as its causal buffer (default: all are S). `progress`: the words that name the layers'
        loop in progress lines (loop_progress); None: no lines."""
        pos = as_positions(ctx_pos)  # the bias channels, built once for every layer
        ctx_pos = pos.pos  # [B, K, P]
        k = ctx_pos.shape[1]
        if k < 1:
            raise ValueError("the context set must hold at least one sample")
        m = self._observed(k, observed)
        if self.value_norm and frame is None:
            frame = self.frame(ctx_val[:, :m])  # [B, 1, V + 1]
        x = self.embed_context(ctx_pos, ctx_val, frame)  # [B, K, D]
        causal = self.encoder_kind == "incremental"
        mask = buffer_mask(k, m, x.device) if m < k else None  # [K, K] or None
        if mask is None and (spans := self._progress_spans(k, progress, x.device)):
            return self.encoder_norm(self._encode_in_spans(x, pos, spans, progress))  # [B, K, D]
        for block in loop_progress(self.encoder, progress or "", unit="layer", enabled=progress is not None,
                                   leave=False):
            x = block(x, causal=causal, x_pos=pos, mask=mask)  # [B, K, D]
        return self.encoder_norm(x)  # [B, K, D]

    def _progress_spans(self, n: int, progress: str | None, device: torch.device) -> list[tuple[int, int]]:
        """The spans of rows (row_spans) that an encoding of n rows of S, shown in progress lines on a CPU, attends
        at a time, where there are several: a layer over a large S takes minutes there (on a GPU seconds, in one
        call). [] for one call a layer: a causal encoder's, or where nothing is shown."""
        if progress is None or device.type != "cpu" or self.encoder_kind == "incremental":
            return []
        spans = row_spans(n, ENCODE_ROWS)
        return spans if len(spans) > 1 else []

    def _encode_in_spans(self, x: torch.Tensor, pos: Positions, spans: list[tuple[int, int]], progress: str,
                         keep: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
        """The encoder's layers over S [B, K, D] -> [B, K, D] (bidirectional: no causality, no mask), each layer's
        attention a span of rows at a time (Block.forward_in_spans), with a progress line by chunks that names the
        layer and the share of it done: a layer over a large S takes minutes on a CPU. `keep`: given each layer's
        index and normed inputs."""
        out: list[torch.Tensor] = []

        def chunks() -> Generator[int, None, None]:
            y = x
            for i, block in enumerate(self.encoder):
                y = yield from block.forward_in_spans(y, pos, spans, None if keep is None else
                                                      lambda h, i=i: keep(i, h))  # [B, K, D]
            out.append(y)

        k, layers = x.shape[1], len(self.encoder)
        bar = loop_progress(chunks(), progress, total=layers * len(spans), unit="chunk", leave=False)
        for done, stop in enumerate(bar):
            bar.set_postfix(layer=f"{done // len(spans) + 1}/{layers} ({100 * stop / k:.0f}%)")
        return out[0]  # [B, K, D]

    def memory_kv(self, rows: torch.Tensor, ctx_pos: PosLike, frame: torch.Tensor | None = None) -> MemoryKV:
        """Encoder rows [B, K, D] at positions [B, K, P] -> the decoder's keys/values, projected once."""
        pos = as_positions(ctx_pos)
        kvs = [block.attn.keys_values(rows, pos) for block in self.decoder]  # per layer [B, H, K, *]
        return MemoryKV([k for k, _ in kvs], [v for _, v in kvs], frame)

    def encode(self, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, observed: int | None = None,
               progress: str | None = None) -> MemoryKV:
        """Context set [B, K, P], [B, K, V] -> the memory every decode call reads (any number of query chunks).
        `observed`: the buffered encoder's split; `progress`: its layers' words (see encode_rows)."""
        m = self._observed(ctx_pos.shape[1], observed)
        frame = self.frame(ctx_val[:, :m])  # [B, 1, V + 1] or None
        pos = Positions(ctx_pos)  # shared by the encoder's and the decoder's layers
        return self.memory_kv(self.encode_rows(pos, ctx_val, frame, m, progress), pos, frame)

    def decode(self, memory: MemoryKV, qry_pos: PosLike, qry_embed: torch.Tensor | None = None) -> torch.Tensor:
        """Memory (from encode or a cache) and queries [B, Q, P] -> parameters [B, Q, num_params], followed by
        the set's frame [m, log s] (V + 1 columns) with value_norm. `qry_embed`: the queries' position
        embedding [B, Q, D] when already computed (StepInputs)."""
        return self.head_output(self.decode_features(memory, qry_pos, qry_embed), memory.frame)

    def head_output(self, features: torch.Tensor, frame: torch.Tensor | None) -> torch.Tensor:
        """Decoded features [B, Q, D] -> parameters [B, Q, num_params], followed by the frame [B, 1, V + 1]
        when there is one."""
        out = self.head(features)  # [B, Q, num_params]
        if frame is None:
            return out
        frame = frame.float()  # the frame stays fp32 under autocast: s multiplies every mean and sigma
        return torch.cat([out.float(), frame.expand(*out.shape[:-1], frame.shape[-1])], dim=-1)  # [B, Q, NP + V + 1]

    def decode_features(self, memory: MemoryKV, qry_pos: PosLike, qry_embed: torch.Tensor | None = None) -> torch.Tensor:
        """decode() without the head: [B, Q, D]."""
        pos = as_positions(qry_pos)
        q = self.qry_pos_proj(self.fourier(pos.pos)) if qry_embed is None else qry_embed  # [B, Q, D]
        for block, k, v in zip(self.decoder, memory.keys, memory.values):
            q = block.cross(q, k, v, pos)  # [B, Q, D]
        return self.decoder_norm(q)  # [B, Q, D]

    def forward(self, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, qry_pos: torch.Tensor,
                observed: int | None = None) -> torch.Tensor:
        return self.decode(self.encode(ctx_pos, ctx_val, observed), qry_pos)  # [B, Q, num_params]

    def features(self, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, qry_pos: torch.Tensor,
                 observed: int | None = None) -> torch.Tensor:
        """forward() without the head, [B, Q, D]: training feeds it to BinnedGaussian.head_loss with self.head,
        which skips the head outputs the loss never reads."""
        return self.decode_features(self.encode(ctx_pos, ctx_val, observed), qry_pos)  # [B, Q, D]

    # ---- buffered and incremental encoders: the sampling cache ----------------------------------------
    def new_cache(self, batch: int, capacity: int, device: torch.device, dtype: torch.dtype) -> RowCache:
        if self.encoder_kind == "bidirectional":
            raise ValueError("a sampling cache needs model.net.encoder='buffered' or 'incremental'")
        def rows(attn: Attention) -> torch.Tensor:  # zeros: a GPU's padding channels are never written
            return torch.zeros(batch, 1, capacity, attn.row_dim(device), device=device, dtype=dtype)  # [B, 1, C, W]

        return RowCache([rows(blk.attn) for blk in self.encoder], rows(self.decoder[0].attn))

    def cached_memory(self, cache: RowCache) -> MemoryKV:
        """The memory of every token cached so far, projected for the decoder (decode, for many queries)."""
        rows = cache.memory_rows[:, 0, : cache.length]  # [B, n, W]
        kvs = [block.attn.keys_values_of_rows(rows) for block in self.decoder]  # per layer [B, H, n, *]
        return MemoryKV([k for k, _ in kvs], [v for _, v in kvs], cache.frame)

    def step_inputs(self, pos: torch.Tensor) -> StepInputs:
        """The positions of a run of sampling steps [B, N, P] (one new sample per step) -> what they fix,
        computed once for all the steps: the distance channels and both position embeddings."""
        steps = Positions(pos)
        for blocks in (self.encoder, self.decoder):
            for blk in blocks:
                if blk.attn.distance:
                    steps.key_channels(blk.attn.extra), steps.scaled_query_channels(blk.attn)
        features = self.fourier(pos)  # [B, N, 2F + P]
        return StepInputs(steps, self.ctx_pos_proj(features), self.qry_pos_proj(features))

    def encode_append(self, cache: RowCache, ctx_pos: PosLike, ctx_val: torch.Tensor,
                      pos_embed: torch.Tensor | None = None, progress: str | None = None) -> torch.Tensor:
        """Append new samples [B, n, P], [B, n, V] to a cache; returns the memory rows of the new samples
        [B, n, D]. The buffered encoder reads the first call's samples as S (attending to each other, with
        value_norm fixing the frame) and every later sample as a buffer row; the incremental encoder is causal
        throughout. Rows of earlier samples never change, so the memory of the whole set is the
        concatenation of the rows returned so far. `pos_embed`: the samples' position embedding [B, n, D]
        when already computed (StepInputs); `progress`: the layers' words, as encode_rows takes them."""
        pos = as_positions(ctx_pos)  # the bias channels, built once for every layer
        start, n = cache.length, pos.pos.shape[1]
        if start + n > cache.capacity:
            raise ValueError(f"the cache holds {cache.capacity} samples; {start + n} asked")
        if start == 0 and self.value_norm:
            cache.frame = self.frame(ctx_val)  # [B, 1, V + 1]: the frame of S, kept for the buffer
        if pos_embed is None:
            pos_embed = self.ctx_pos_proj(self.fourier(pos.pos))  # [B, n, D]
        x = pos_embed + self.ctx_val_proj(ctx_val, cache.frame)  # [B, n, D]
        if start == 0 and (spans := self._progress_spans(n, progress, x.device)):  # as encode_rows shows a large S
            x = self._encode_in_spans(x, pos, spans, progress,  # [B, n, D]
                                      lambda i, h: self.encoder[i].attn.store_rows(h, pos, cache.rows[i], start))
        else:
            for i, block in enumerate(loop_progress(self.encoder, progress or "", unit="layer",
                                                    enabled=progress is not None, leave=False)):
                h = block.norm1(x)  # [B, n, D]
                block.attn.store_rows(h, pos, cache.rows[i], start)
                if start == 0:  # S (buffered) or a causal first block (incremental): as encode_rows computes it
                    att = block.attn(h, h, causal=self.encoder_kind == "incremental" and n > 1, x_pos=pos,
                                     src_pos=pos)
                else:  # new rows see the cache and, causally, each other
                    mask = None if n == 1 else torch.ones(n, start + n, dtype=torch.bool,
                                                          device=x.device).tril(start)  # [n, start + n] or None
                    att = block.attn.out(block.attn.attend_rows(block.attn.q(h), cache.rows[i][:, :, : start + n],
                                                                pos, mask))  # [B, n, D]
                x = x + att
                x = x + block.mlp(block.norm2(x))  # [B, n, D]
        memory = self.encoder_norm(x)  # [B, n, D]
        # every decoder layer reads these rows; all have the first one's distance channels and row width
        self.decoder[0].attn.store_rows(memory, pos, cache.memory_rows, start)
        cache.length = start + n
        return memory  # [B, n, D]


@dataclass
class StepInputs:
    """What the positions of a run of sampling steps fix, computed once for all of them
    (PixelTransformer.step_inputs); step t reads its slice with at(t)."""

    pos: Positions  # [B, N, P], the distance channels built
    ctx_embed: torch.Tensor  # [B, N, D] the position part of a context token
    qry_embed: torch.Tensor  # [B, N, D] a query token

    def at(self, t: int) -> tuple[Positions, torch.Tensor, torch.Tensor]:
        """Step t's positions [B, 1, P], context and query embeddings [B, 1, D]."""
        return self.pos.rows(t, t + 1), self.ctx_embed[:, t : t + 1], self.qry_embed[:, t : t + 1]
