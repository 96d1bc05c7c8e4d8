"""An independent PyTorch implementation of the All-attention LM.

Written from ../shared/reference/allatt-l0-spec.md section 1 with plain torch
operations, in the layout a PyTorch user would choose (batch-major einsums,
Transformer-XL's pad-and-reshape relative shift, a boolean mask filled with
-inf), so that agreement with the engine's head-major, strided-copy version is
evidence that both compute the model of the spec.

Dropout is not modelled: parity runs use dropout 0 on both sides.
"""
import math

import torch
import torch.nn.functional as F


def rel_shift(x):
    """Transformer-XL's shift: x (..., T, S) position scores with column k <->
    distance S-1-k, realigned so out[..., i, j] is the score at distance M+i-j."""
    *lead, T, S = x.shape
    padded = torch.cat([x.new_zeros(*lead, T, 1), x], dim=-1)   # (..., T, S+1)
    padded = padded.view(*lead, S + 1, T)[..., 1:, :]             # drop the first row
    return padded.reshape(*lead, T, S)


def same_length_mask(T, M, N, device):
    """True where query i may look: context j with i <= j <= i+M, and all N persistent."""
    S = M + T
    i = torch.arange(T, device=device)[:, None]
    j = torch.arange(S, device=device)[None, :]
    ctx = (j >= i) & (j <= i + M)
    return torch.cat([ctx, torch.ones(T, N, dtype=torch.bool, device=device)], dim=1)


def layer_forward(p, prefix, x, mem, r_table, cfg, gate=None):
    """x (B,T,C), mem (B,M,C), r_table (S,C) -> (B,T,C)."""
    B, T, C = x.shape
    M = mem.shape[1]
    S = M + T
    H = p[prefix + "attn.u_bias"].shape[0]
    D, N = cfg["d_head"], cfg["persist"]
    cat = torch.cat([mem, x], dim=1)
    n = F.layer_norm(cat, (C,), p[prefix + "norm.weight"], p[prefix + "norm.bias"],
                     cfg.get("layernorm_eps", 1e-5))
    q = (n[:, M:] @ p[prefix + "attn.q.weight"].t()).view(B, T, H, D)
    k = (n @ p[prefix + "attn.k.weight"].t()).view(B, S, H, D)
    v = (n @ p[prefix + "attn.v.weight"].t()).view(B, S, H, D)
    r = (r_table @ p[prefix + "attn.r.weight"].t()).view(S, H, D)
    u_bias, v_bias = p[prefix + "attn.u_bias"], p[prefix + "attn.v_bias"]
    content = torch.einsum("bihd,bjhd->bhij", q + u_bias, k)
    position = rel_shift(torch.einsum("bihd,jhd->bhij", q + v_bias, r))
    ctx = (content + position) / math.sqrt(D)
    pers = torch.einsum("bihd,hnd->bhin", q, p[prefix + "attn.persist_k"])
    logits = torch.cat([ctx, pers], dim=-1)
    logits = logits.masked_fill(~same_length_mask(T, M, N, x.device), float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    out = torch.einsum("bhij,bjhd->bihd", probs[..., :S], v)
    out = out + torch.einsum("bhin,hnd->bihd", probs[..., S:],
                             p[prefix + "attn.persist_v"] * math.sqrt(N))
    if gate is not None:
        out = out * gate.view(1, 1, H, 1)
    out = out.reshape(B, T, H * D) @ p[prefix + "attn.out.weight"].t() + p[prefix + "attn.out.bias"]
    return x + out


def model_forward(p, cfg, tokens, mems, gates=None):
    """tokens (B,T) long, mems: list of (B,M,C) -> logits (B,T,V), new mems."""
    B, T = tokens.shape
    M, L, C = cfg["mem_len"], cfg["layers"], cfg["d_model"]
    S = M + T
    h = F.embedding(tokens, p["embed.weight"]) * math.sqrt(C)
    r_table = p["pos.weight"][-S:]
    new_mems = []
    for l in range(L):
        joined = torch.cat([mems[l], h], dim=1)
        new_mems.append(joined[:, joined.shape[1] - M:].detach())
        h = layer_forward(p, f"layers.{l}.", h, mems[l], r_table, cfg,
                          None if gates is None else gates[l])
    return h @ p["embed.weight"].t(), new_mems
