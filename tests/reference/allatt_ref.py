"""An independent PyTorch implementation of the All-attention LM.

Written from docs/spec.md section 2 with plain torch
operations, in the layout a PyTorch user would choose (batch-major einsums,
Transformer-XL's pad-and-reshape relative shift, a boolean mask filled with
-inf), so that agreement with the engine's head-major, strided-copy version is
evidence that both compute the model of the spec.

With cfg["adaptive_cutoffs"] the embedding and the output layer are the
adaptive input and softmax of models/adaptive.h, written here the other way
round: every cluster is computed on every position and selected by a mask,
and the full log-distribution is assembled and indexed, where the engine
gathers each cluster's own rows.

Dropout sits where the engine has it (cfg["dropout_*"], when training=True);
it uses torch's own random numbers, so parity runs use dropout 0 on both sides
and benchmarks compare the same amount of work.
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


def layer_forward(p, prefix, x, mem, r_table, cfg, gate=None, training=False):
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
    logits = ctx
    if N > 0:  # N = 0 is the Transformer-XL baseline: no persistent vectors
        pers = torch.einsum("bihd,hnd->bhin", q, p[prefix + "attn.persist_k"])
        logits = torch.cat([ctx, pers], dim=-1)
    logits = logits.masked_fill(~same_length_mask(T, M, N, x.device), float("-inf"))
    probs = F.dropout(torch.softmax(logits, dim=-1), cfg.get("dropout_attn", 0.0), training)
    out = torch.einsum("bhij,bjhd->bihd", probs[..., :S], v)
    if N > 0:
        out = out + torch.einsum("bhin,hnd->bihd", probs[..., S:],
                                 p[prefix + "attn.persist_v"] * math.sqrt(N))
    if gate is not None:
        out = out * gate.view(1, 1, H, 1)
    out = out.reshape(B, T, H * D) @ p[prefix + "attn.out.weight"].t() + p[prefix + "attn.out.bias"]
    return x + F.dropout(out, cfg.get("dropout_residual", 0.0), training)


def ffn_forward(p, prefix, x, cfg, training=False):
    """The Transformer-XL baseline's block: x + dropout(W2 relu(W1 LN(x) + b1) + b2)."""
    n = F.layer_norm(x, (x.shape[-1],), p[prefix + "ffn.norm.weight"], p[prefix + "ffn.norm.bias"],
                     cfg.get("layernorm_eps", 1e-5))
    inner = F.relu(F.linear(n, p[prefix + "ffn.in.weight"], p[prefix + "ffn.in.bias"]))
    out = F.linear(inner, p[prefix + "ffn.out.weight"], p[prefix + "ffn.out.bias"])
    return x + F.dropout(out, cfg.get("dropout_residual", 0.0), training)


def cluster_bounds(cfg, V):
    """[0, c_0, ..., c_{K-1}, V]: cluster i holds the words [bounds[i], bounds[i+1])."""
    return [0] + list(cfg["adaptive_cutoffs"]) + [V]


def adaptive_input(p, cfg, tokens, V):
    """tokens (B,T) long -> (B,T,C): sum over clusters of mask_i * P_i E_i[token - begin_i]."""
    bounds = cluster_bounds(cfg, V)
    out = 0
    for i in range(len(bounds) - 1):
        lo, hi = bounds[i], bounds[i + 1]
        inside = ((tokens >= lo) & (tokens < hi)).unsqueeze(-1)
        rows = F.embedding((tokens - lo).clamp(0, hi - lo - 1), p[f"adaptive.embed.{i}.weight"])
        out = out + inside * (rows @ p[f"adaptive.proj.{i}.weight"].t())
    return out


def adaptive_log_probs(p, cfg, h, V):
    """h (..., C) -> (..., V) log p(word). The head is a softmax over the
    shortlist words (output projection Q, then the tied table E_0) and one
    logit per tail cluster; a tail word adds its cluster's log-softmax over
    E_i (P_i^T h) + b_i, the input projection P_i used transposed."""
    bounds = cluster_bounds(cfg, V)
    c0 = bounds[1]
    head = torch.cat([F.linear(F.linear(h, p["adaptive.head_proj.weight"]), p["adaptive.embed.0.weight"],
                               p["adaptive.bias.0"]),
                      F.linear(h, p["adaptive.cluster.weight"], p["adaptive.cluster.bias"])], dim=-1)
    head = torch.log_softmax(head, dim=-1)
    parts = [head[..., :c0]]
    for i in range(1, len(bounds) - 1):
        tail = F.linear(h @ p[f"adaptive.proj.{i}.weight"], p[f"adaptive.embed.{i}.weight"], p[f"adaptive.bias.{i}"])
        parts.append(head[..., c0 + i - 1:c0 + i] + torch.log_softmax(tail, dim=-1))
    return torch.cat(parts, dim=-1)


def model_forward(p, cfg, tokens, mems, gates=None, training=False):
    """tokens (B,T) long, mems: list of (B,M,C) -> logits (B,T,V) (log-probabilities
    with adaptive softmax), new mems."""
    B, T = tokens.shape
    M, L, C = cfg["mem_len"], cfg["layers"], cfg["d_model"]
    S = M + T
    adaptive = bool(cfg.get("adaptive_cutoffs"))
    if adaptive:
        V = sum(w.shape[0] for k, w in p.items() if k.startswith("adaptive.bias."))  # one bias per word
        emb = adaptive_input(p, cfg, tokens, V)
    else:
        emb = F.embedding(tokens, p["embed.weight"])
    h = F.dropout(emb, cfg.get("dropout_embed", 0.0), training) * math.sqrt(C)
    r_table = F.dropout(p["pos.weight"], cfg.get("dropout_pos", 0.0), training)[-S:]
    new_mems = []
    for l in range(L):
        joined = torch.cat([mems[l], h], dim=1)
        new_mems.append(joined[:, joined.shape[1] - M:].detach())
        h = layer_forward(p, f"layers.{l}.", h, mems[l], r_table, cfg,
                          None if gates is None else gates[l], training)
        if cfg.get("d_ffn", 0) > 0:
            h = ffn_forward(p, f"layers.{l}.", h, cfg, training)
    h = F.dropout(h, cfg.get("dropout_proj", 0.0), training)
    h = F.dropout(h, cfg.get("dropout_output", 0.0), training)
    if adaptive:
        return adaptive_log_probs(p, cfg, h, V), new_mems
    return h @ p["embed.weight"].t(), new_mems


def init_params(cfg, vocab, generator=None):
    """Parameters with the shapes and names of the engine's checkpoints."""
    C, H, D, N, L = cfg["d_model"], cfg["heads"], cfg["d_head"], cfg["persist"], cfg["layers"]
    u = lambda *shape, b: (torch.rand(*shape, generator=generator) * 2 - 1) * b
    wide, narrow = 1 / math.sqrt(C), math.sqrt(1 / (C * L))
    if cfg.get("adaptive_cutoffs"):
        bounds, div = cluster_bounds(cfg, vocab), cfg.get("adaptive_div", 4.0)
        p = {}
        for i in range(len(bounds) - 1):
            words, d = bounds[i + 1] - bounds[i], int(C // div ** i)
            p[f"adaptive.embed.{i}.weight"], p[f"adaptive.proj.{i}.weight"] = u(words, d, b=wide), u(C, d, b=wide)
            p[f"adaptive.bias.{i}"] = torch.zeros(words)
        K = len(bounds) - 2
        p["adaptive.head_proj.weight"] = u(C, C, b=wide)
        p["adaptive.cluster.weight"], p["adaptive.cluster.bias"] = u(K, C, b=narrow), torch.zeros(K)
    else:
        p = {"embed.weight": u(vocab, C, b=wide)}
    p["pos.weight"] = u(cfg["max_len"], C, b=wide)
    for l in range(L):
        pre = f"layers.{l}."
        p[pre + "norm.weight"], p[pre + "norm.bias"] = torch.ones(C), torch.zeros(C)
        for k in "qkvr":
            p[pre + f"attn.{k}.weight"] = u(H * D, C, b=narrow)
        p[pre + "attn.u_bias"], p[pre + "attn.v_bias"] = torch.zeros(H, D), torch.zeros(H, D)
        if N > 0:
            p[pre + "attn.persist_k"], p[pre + "attn.persist_v"] = u(H, N, D, b=narrow), u(H, N, D, b=narrow)
        p[pre + "attn.out.weight"], p[pre + "attn.out.bias"] = u(C, H * D, b=wide), torch.zeros(C)
        Fi = cfg.get("d_ffn", 0)
        if Fi > 0:
            p[pre + "ffn.norm.weight"], p[pre + "ffn.norm.bias"] = torch.ones(C), torch.zeros(C)
            p[pre + "ffn.in.weight"], p[pre + "ffn.in.bias"] = u(Fi, C, b=wide), torch.zeros(Fi)
            p[pre + "ffn.out.weight"], p[pre + "ffn.out.bias"] = u(C, Fi, b=1 / math.sqrt(Fi)), torch.zeros(C)
    return p
