"""The baseline the benchmarks measure against: a re-implementation in the design of the original release.

It is written for this repository (no code taken from the release) and follows the release's design as
published, so the benchmark ratios say what the redesign buys:

- model: ``torch.nn.Transformer`` with sequence-first tensors [N, B, D], ``TransformerEncoderLayer`` /
  ``TransformerDecoderLayer`` subclasses in the release's default arrangement (each sub-layer's output is
  layer-normalised, then added to the residual), ReLU, dropout 0.1 while training. The decoder layers skip
  query self-attention (queries attend to the memory only), as the release's decoder does, but the
  identity target mask [Q, Q] the release builds for every call is still built (then unused by the layers).
  Attention goes through ``nn.MultiheadAttention`` called with its defaults, so the averaged attention
  weights [B, N, M] are materialised (``need_weights=True``), as in the release.
- embedding: value -> Linear(V, D/2), position -> D/2 random Fourier features; the two are concatenated. A
  query is [zeros, Fourier(position)].
- loss: softmax over the bins, then the log of the nearest bin's probability; the nearest bin is found by a
  dense distance search to every centre, done twice per loss (once for the class term, once to discretise
  the value), as the release calls its k-NN twice (pytorch3d ``knn_points``, emulated here with
  ``torch.cdist`` + ``argmin``, a batched search, not a Python loop). The Gaussian term is
  0.1 (log var + (mu - (v - c))^2 / var) on the nearest bin.
- sets: drawn per item on the CPU inside ``Dataset.__getitem__`` (``torch.rand`` + ``grid_sample`` per
  image), collated by a ``DataLoader``, permuted to sequence-first, then moved to the device.
- sampling: one signal at a time; every step re-runs the whole encoder over the context plus the values
  drawn so far, decodes the one next query, draws its value and appends it to the set (``torch.cat``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset


class ResidualNormEncoderLayer(nn.TransformerEncoderLayer):
    """x + LN(SelfAttn(x)), then x + LN(FFN(x)); attention weights are computed (the MHA default)."""

    def forward(self, src: torch.Tensor, src_mask=None, src_key_padding_mask=None, is_causal=False) -> torch.Tensor:
        a = self.self_attn(src, src, src, attn_mask=src_mask, key_padding_mask=src_key_padding_mask)[0]  # [N, B, D]
        src = src + self.dropout1(self.norm1(a))
        f = self.linear2(self.dropout(self.activation(self.linear1(src))))  # [N, B, D]
        return src + self.dropout2(self.norm2(f))


class CrossOnlyDecoderLayer(nn.TransformerDecoderLayer):
    """Queries attend to the memory only (the layer's self-attention module exists but is never called)."""

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, tgt_mask=None, memory_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=False,
                memory_is_causal=False) -> torch.Tensor:
        a = self.multihead_attn(tgt, memory, memory, attn_mask=memory_mask,
                                key_padding_mask=memory_key_padding_mask)[0]  # [Q, B, D]
        tgt = tgt + self.dropout2(self.norm2(a))
        f = self.linear2(self.dropout(self.activation(self.linear1(tgt))))  # [Q, B, D]
        return tgt + self.dropout3(self.norm3(f))


def identity_target_mask(n: int, device: torch.device | str) -> torch.Tensor:
    """The [n, n] additive mask (0 on the diagonal, -inf elsewhere) built on the CPU, then moved."""
    eye = torch.eye(n)
    return eye.masked_fill(eye == 0, float("-inf")).masked_fill(eye == 1, 0.0).to(device)  # [n, n]


class ReferenceNet(nn.Module):
    """The baseline network; sizes as in configs/model/<preset>.yaml (benchmarks.common.check_preset).

    Tensors are sequence-first: ctx_pos [K, B, P], ctx_val [K, B, V], qry_pos [Q, B, P] -> [Q, B, NP].
    """

    def __init__(self, pos_dims: int, val_dims: int, num_params: int, width: int = 128, encoder_layers: int = 2,
                 decoder_layers: int = 2, heads: int = 4, ffn: int = 256, fourier_scale: float = 2.0,
                 dropout: float = 0.1, seed: int = 0):
        super().__init__()
        if width % 4:
            raise ValueError(f"width {width} must be divisible by 4 (two halves of sin/cos features)")
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", torch.randn(pos_dims, width // 4, generator=gen) * fourier_scale)  # [P, D/4]
        self.val_enc = nn.Linear(val_dims, width // 2)
        encoder = nn.TransformerEncoder(
            ResidualNormEncoderLayer(width, heads, ffn, dropout), encoder_layers, nn.LayerNorm(width),
            enable_nested_tensor=False)
        decoder = nn.TransformerDecoder(CrossOnlyDecoderLayer(width, heads, ffn, dropout), decoder_layers,
                                        nn.LayerNorm(width))
        self.transformer = nn.Transformer(width, heads, custom_encoder=encoder, custom_decoder=decoder)
        self.head = nn.Linear(width, num_params)

    def pos_enc(self, pos: torch.Tensor) -> torch.Tensor:
        proj = 2 * math.pi * pos @ self.freqs  # [..., D/4]
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)  # [..., D/2]

    def embed_samples(self, pos: torch.Tensor, val: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.val_enc(val), self.pos_enc(pos)], dim=-1)  # [N, B, D]

    def embed_queries(self, pos: torch.Tensor) -> torch.Tensor:
        p = self.pos_enc(pos)  # [Q, B, D/2]
        return torch.cat([torch.zeros_like(p), p], dim=-1)  # [Q, B, D]

    def run(self, samples: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """Embedded samples [N, B, D] and queries [Q, B, D] -> parameters [Q, B, NP] (encoder + decoder)."""
        mask = identity_target_mask(queries.shape[0], queries.device)  # [Q, Q]
        return self.head(self.transformer(samples, queries, tgt_mask=mask))  # [Q, B, NP]

    def forward(self, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, qry_pos: torch.Tensor) -> torch.Tensor:
        return self.run(self.embed_samples(ctx_pos, ctx_val), self.embed_queries(qry_pos))  # [Q, B, NP]


class ReferenceDistribution:
    """The release's discrete + continuous value distribution over explicit bin centres [NB, V]."""

    def __init__(self, centres: torch.Tensor, alpha: float = 0.1):
        self.centres = centres.float()  # [NB, V]
        self.alpha = alpha

    def parts(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        nb, v = self.centres.shape
        logits, mu, log_var = torch.split(params, (nb, nb * v, nb), dim=-1)
        return F.softmax(logits, dim=-1), mu.reshape(*params.shape[:-1], nb, v), log_var  # probs, [..., NB, V], [..., NB]

    def nearest(self, value: torch.Tensor) -> torch.Tensor:
        """Dense k-NN (k = 1) of values [..., V] among the centres -> [..., 1]."""
        c = self.centres.to(value.device)
        idx = torch.cdist(value.reshape(1, -1, value.shape[-1]), c.unsqueeze(0)).argmin(-1)  # [1, N]
        return idx.reshape(*value.shape[:-1], 1)  # [..., 1]

    def nll(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Per-query loss [..., 1] (class NLL + alpha Gaussian term on the nearest bin)."""
        probs, mu, log_var = self.parts(params)
        nll_cls = -torch.log(torch.gather(probs, -1, self.nearest(value)))  # [..., 1]
        b = self.nearest(value)  # second search: discretise the value, as the release does
        centre = self.centres.to(value.device)[b.squeeze(-1)]  # [..., V]
        mu_b = torch.gather(mu, -2, b.unsqueeze(-1).expand(*b.shape, mu.shape[-1])).squeeze(-2)  # [..., V]
        lv_b = torch.gather(log_var, -1, b)  # [..., 1]
        reg = (lv_b + (mu_b - (value - centre)) ** 2 * torch.exp(-lv_b)).sum(-1, keepdim=True)  # [..., 1]
        return nll_cls + self.alpha * reg

    def sample(self, params: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        """One value per query: a bin from softmax(log p / tau), then its centre + offset + noise. [..., V]."""
        probs, mu, log_var = self.parts(params)
        p = F.softmax(torch.log(probs.reshape(-1, probs.shape[-1])) / tau, dim=-1)  # [N, NB]
        b = torch.multinomial(p, 1).reshape(*probs.shape[:-1], 1)  # [..., 1]
        centre = self.centres.to(params.device)[b.squeeze(-1)]  # [..., V]
        mu_b = torch.gather(mu, -2, b.unsqueeze(-1).expand(*b.shape, mu.shape[-1])).squeeze(-2)  # [..., V]
        std = torch.exp(torch.gather(log_var, -1, b))  # [..., 1]
        return torch.randn_like(mu_b) * std * tau + mu_b + centre  # [..., V]


class PerItemSetDataset(Dataset):
    """Dense images [N, V, H, W]; every item draws its own context and query positions on the CPU."""

    def __init__(self, images: torch.Tensor, num_context: int, num_queries: int):
        self.images, self.k, self.q = images, num_context, num_queries

    def __len__(self) -> int:
        return self.images.shape[0]

    @staticmethod
    def read(img: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """img [V, H, W] at positions [N, 2] (x, y) -> [N, V]."""
        out = F.grid_sample(img[None], pos.view(1, 1, -1, 2), align_corners=False)  # [1, V, 1, N]
        return out.view(img.shape[0], -1).permute(1, 0).contiguous()  # [N, V]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        img = self.images[i]
        ctx = torch.rand(self.k, 2) * 2 - 1  # [K, 2]
        qry = torch.rand(self.q, 2) * 2 - 1  # [Q, 2]
        return {"ctx_pos": ctx, "ctx_val": self.read(img, ctx), "qry_pos": qry, "qry_val": self.read(img, qry)}


def reference_loader(images: torch.Tensor, batch_size: int, num_context: int, num_queries: int) -> DataLoader:
    return DataLoader(PerItemSetDataset(images, num_context, num_queries), batch_size=batch_size, shuffle=True,
                      num_workers=0, drop_last=True)


def to_sequence_first(batch: dict[str, torch.Tensor], device: torch.device | str) -> dict[str, torch.Tensor]:
    """[B, N, C] -> [N, B, C] contiguous, then onto the device."""
    return {k: v.permute(1, 0, 2).contiguous().to(device) for k, v in batch.items()}


def reference_train_step(net: ReferenceNet, dist: ReferenceDistribution, opt: torch.optim.Optimizer,
                         batch: dict[str, torch.Tensor], device: torch.device | str = "cpu") -> float:
    """One optimisation step from a collated batch; returns the loss."""
    b = to_sequence_first(batch, device)
    params = net(b["ctx_pos"], b["ctx_val"], b["qry_pos"])  # [Q, B, NP]
    loss = dist.nll(params, b["qry_val"]).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


@torch.no_grad()
def reference_sample(net: ReferenceNet, dist: ReferenceDistribution, ctx_pos: torch.Tensor, ctx_val: torch.Tensor,
                     qry_pos: torch.Tensor, steps: int | None = None, tau: float = 1.0) -> torch.Tensor:
    """Autoregressive sampling of ONE signal, one query at a time, the whole encoder re-run every step.

    ctx_pos [K, 1, P], ctx_val [K, 1, V], qry_pos [Q, 1, P] (visited in the given order) -> values [steps, 1, V].
    """
    samples = net.embed_samples(ctx_pos, ctx_val)  # [K, 1, D]
    queries = net.embed_queries(qry_pos)  # [Q, 1, D]
    out = []
    for t in range(qry_pos.shape[0] if steps is None else steps):
        q = queries[t : t + 1]  # [1, 1, D]
        val = dist.sample(net.run(samples, q), tau)  # [1, 1, V]
        new = torch.cat([net.val_enc(val), q[..., q.shape[-1] // 2 :]], dim=-1)  # [1, 1, D]
        samples = torch.cat([samples, new], dim=0)  # [K + t + 1, 1, D]
        out.append(val)
    return torch.cat(out, dim=0)  # [steps, 1, V]
