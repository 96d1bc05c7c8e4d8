#!/usr/bin/env python3
"""A headcount checkpoint as a stock PyTorch module.

    import sys; sys.path.insert(0, "python")
    import headcount_torch as hc
    model = hc.load("runs/small/model.safetensors")   # dense, gated, compacted, TXL, adaptive
    print(model.generate("Call me Ishmael.", tokens=200, top_k=1))
    print(model.loss("data/corpora/moby/valid.txt"))  # what `headcount eval` reports, in nats

One file that needs only PyTorch and NumPy, written from the engine's own
code (models/allatt_lm.cpp, allatt_layer.cpp, feedforward.cpp, adaptive.cpp,
gates.cpp, compaction.cpp, data/tokenizer.cpp, data/eval_split.cpp, app/generate.cpp) and
docs/checkpoint-format.md; tests/test_python_loader.cpp checks it against the
engine. It computes what the engine computes in evaluation (no dropout):

  - HeadcountLM.forward(tokens, memory) -> (logits, next memory)
  - HeadcountLM.loss(text_file)         the cut of `headcount eval`
  - HeadcountLM.generate(prompt, ...)   the sampling of `headcount generate`
  - HeadcountLM.save(path)              a model checkpoint the engine loads

Its state_dict() keys are the checkpoint's tensor names, so the weights can
be fine-tuned or exported with ordinary PyTorch code. Letters: B batch, T
segment, M memory, S = M+T, N persistent vectors, C width, H heads, D head
width, V vocabulary, L layers.

Command line: python3 python/headcount_torch.py loss|generate --help
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

FORMAT = "headcount-checkpoint-1"


class CheckpointError(ValueError):
    """A file that is not a usable headcount checkpoint (or vocabulary, or
    input): the message names the file and the problem."""


# ---------------------------------------------------------------------------
# safetensors: an 8-byte little-endian header length, a JSON header
#   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
#    "__metadata__": {"key": "value"}}
# and the raw little-endian data; offsets count from the first data byte and
# the tensors cover the data exactly once.

_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}


def read_safetensors(path):
    """path -> (dict name -> ndarray, metadata dict). Raises CheckpointError
    naming the file, the problem and the tensor for every defect."""
    def fail(what):
        raise CheckpointError(f"safetensors {path}: {what}")

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise CheckpointError(f"safetensors {path}: cannot read ({e.strerror})") from None
    if len(raw) < 8:
        fail(f"file too short ({len(raw)} bytes) for the 8-byte header length")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > len(raw) - 8:
        fail(f"header length {header_len} exceeds the file ({len(raw)} bytes): not a safetensors file, or truncated")
    try:
        header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        fail("header is not valid JSON: not a safetensors file")
    if not isinstance(header, dict):
        fail("header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        fail("__metadata__ must map names to strings")
    data = memoryview(raw)[8 + header_len:]
    tensors, spans = {}, []
    for name, entry in header.items():
        where = f"tensor '{name}': "
        if not isinstance(entry, dict):
            fail(where + "entry is not an object")
        dtype = _DTYPES.get(entry.get("dtype"))
        if dtype is None:
            fail(where + f"unsupported dtype {entry.get('dtype')!r} (F32, F64 and I64 are)")
        shape = entry.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            fail(where + "shape must be a list of non-negative integers")
        offsets = entry.get("data_offsets")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)):
            fail(where + "data_offsets must be two non-negative integers")
        begin, end = offsets
        if end < begin or end > len(data):
            fail(where + f"data_offsets [{begin}, {end}) lie outside the data region ({len(data)} bytes): truncated or corrupt")
        if end - begin != math.prod(shape) * dtype.itemsize:
            fail(where + f"{end - begin} bytes do not hold shape {shape} of {entry['dtype']}")
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
        spans.append((begin, end, name))
    at = 0
    for begin, end, name in sorted(spans):
        if begin != at:
            fail(f"tensor '{name}' " + ("overlaps the tensor before it" if begin < at else "leaves a gap before it"))
        at = end
    if at != len(data):
        fail(f"{len(data) - at} bytes of data after the last tensor")
    return tensors, metadata


def _write_atomically(path, data):
    """A temporary file beside `path`, flushed to disk, renamed over it: a
    crash leaves the old file or the new one (as the engine writes)."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_safetensors(path, tensors, metadata):
    """tensors: dict name -> ndarray (F32, F64 or I64), written in name order."""
    names = {np.dtype(v): k for k, v in _DTYPES.items()}
    header, chunks, offset = {"__metadata__": dict(metadata)}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype.newbyteorder("<") not in names:
            raise ValueError(f"write_safetensors: tensor '{name}' has dtype {a.dtype} (F32, F64 and I64 are written)")
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        chunks.append(a.tobytes())
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned
    _write_atomically(path, struct.pack("<Q", len(text)) + text + b"".join(chunks))


# ---------------------------------------------------------------------------
# The vocabulary (data/tokenizer.cpp). A file is a header line
# "headcount-vocab char" or "headcount-vocab word", then one token per line in
# id order, id 0 being <unk>: for char, byte values in decimal; for word, the
# words, most frequent first. Text is handled as bytes throughout, as the
# engine does: a char model reads any file, byte by byte.

class Vocabulary:
    def __init__(self, kind, tokens):
        self.kind = kind      # "char" | "word"
        self.tokens = tokens  # id -> token, as bytes
        self.ids = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def load(cls, path):
        try:
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")
        except OSError as e:
            raise CheckpointError(f"vocabulary {path}: cannot read ({e.strerror})") from None
        if lines[-1] == b"":
            lines.pop()  # the final newline ends the last line; it starts none
        kinds = {b"headcount-vocab char": "char", b"headcount-vocab word": "word"}
        if not lines or lines[0] not in kinds:
            raise CheckpointError(f"vocabulary {path}: first line must be 'headcount-vocab char' or 'headcount-vocab word'")
        kind, tokens, seen = kinds[lines[0]], [], set()
        for number, line in enumerate(lines[1:], start=2):
            where = f"vocabulary {path} line {number}: "
            if not tokens:
                if line != b"<unk>":
                    raise CheckpointError(where + "the first token must be <unk>")
                tokens.append(line)
                seen.add(line)
                continue
            if kind == "char":
                if not line.isdigit() or int(line) > 255:
                    raise CheckpointError(where + f"expected a byte value 0-255, got {line!r}")
                token = bytes([int(line)])
            else:
                if not line or len(line.split()) != 1 or line != line.strip():
                    raise CheckpointError(where + "a word may not be empty or contain whitespace")
                token = line
            if token in seen:
                raise CheckpointError(where + "duplicate token")
            seen.add(token)
            tokens.append(token)
        if not tokens:
            raise CheckpointError(f"vocabulary {path}: no tokens")
        return cls(kind, tokens)

    def text(self):
        """The file's bytes, as the engine writes them."""
        body = [b"<unk>"] + [str(t[0]).encode() if self.kind == "char" else t for t in self.tokens[1:]]
        return b"\n".join([f"headcount-vocab {self.kind}".encode()] + body) + b"\n"

    def __len__(self):
        return len(self.tokens)

    def words(self, data):
        """Word level: each line's whitespace-separated words, then <eos>
        (std::getline and operator>> in the C locale: ASCII whitespace)."""
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        for line in lines:
            yield from line.split()
            yield b"<eos>"

    def encode(self, data):
        """bytes (or str, taken as UTF-8) -> token ids; unknown tokens are <unk> (0)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        pieces = (data[i:i + 1] for i in range(len(data))) if self.kind == "char" else self.words(data)
        return [self.ids.get(p, 0) for p in pieces]

    def decode(self, ids):
        """token ids -> bytes: <unk> as '?' at char level; words joined by
        spaces, <eos> as a line end."""
        out = bytearray()
        for i in ids:
            token = self.tokens[i]
            if self.kind == "char":
                out += b"?" if i == 0 else token
            elif token == b"<eos>":
                out += b"\n"
            else:
                if out and out[-1:] != b"\n":
                    out += b" "
                out += token
        return bytes(out)


# ---------------------------------------------------------------------------
# Philox4x32-10 (engine/rng.h): generate draws its sampling numbers from it,
# so the same seed picks the same tokens here.

_M32 = 0xFFFFFFFF


def philox_bits(seed, index, offset=0):
    """The 32-bit word for element `index` of the stream (seed, offset)."""
    block = offset + index // 4
    c0, c1, c2, c3 = block & _M32, (block >> 32) & _M32, 0, 0
    k0, k1 = seed & _M32, (seed >> 32) & _M32
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + 0x9E3779B9) & _M32, (k1 + 0xBB67AE85) & _M32
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & _M32, p1 & _M32, ((p0 >> 32) ^ c3 ^ k1) & _M32, p0 & _M32
    return (c0, c1, c2, c3)[index % 4]


def philox_uniform(seed, index):
    """A uniform in (0, 1) from the top 23 bits plus one half: exact in float32."""
    return ((philox_bits(seed, index) >> 9) + 0.5) / 8388608.0


# ---------------------------------------------------------------------------
# The model. Modules are named so that state_dict() keys are the checkpoint's
# tensor names (docs/checkpoint-format.md).

class _Weight(nn.Module):
    """One parameter called `weight` (the embedding tables, the position table)."""

    def __init__(self, *shape):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(*shape))


class _Bias(nn.Module):
    """What is left of a layer's output projection when all its heads are gone."""

    def __init__(self, C):
        super().__init__()
        self.bias = nn.Parameter(torch.empty(C))


class _Gate(nn.Module):
    """A pruning checkpoint's hard-concrete gate logits, one per head."""

    def __init__(self, H):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.empty(H))


class Attention(nn.Module):
    """All-attention over [memory ; current] and N persistent key/value vectors
    per head, in one softmax (models/allatt_layer.cpp); N = 0 is the
    Transformer-XL baseline's attention."""

    def __init__(self, C, H, D, N, gated):
        super().__init__()
        self.H, self.D, self.N = H, D, N
        if H > 0:
            self.q = nn.Linear(C, H * D, bias=False)  # rows h*D..h*D+D-1 belong to head h
            self.k = nn.Linear(C, H * D, bias=False)
            self.v = nn.Linear(C, H * D, bias=False)
            self.r = nn.Linear(C, H * D, bias=False)  # projects the position table
            self.u_bias = nn.Parameter(torch.empty(H, D))  # Transformer-XL content bias
            self.v_bias = nn.Parameter(torch.empty(H, D))  # Transformer-XL position bias
            if N > 0:
                self.persist_k = nn.Parameter(torch.empty(H, N, D))
                self.persist_v = nn.Parameter(torch.empty(H, N, D))
            self.out = nn.Linear(H * D, C)  # columns h*D..h*D+D-1 take head h
        else:
            self.out = _Bias(C)
        if gated:
            self.gate = _Gate(H)

    def forward(self, normed, M, r_table, gate):
        """normed (B,S,C) the LayerNorm of [memory ; current], r_table (S,C)
        rows for distances S-1..0, gate (H) or None -> (B,T,C) the projected
        heads, before the residual add."""
        B, S, _ = normed.shape
        T, H, D, N = S - M, self.H, self.D, self.N
        q = self.q(normed[:, M:]).view(B, T, H, D)  # queries for the current tokens only
        k = self.k(normed).view(B, S, H, D)
        v = self.v(normed).view(B, S, H, D)
        r = self.r(r_table).view(S, H, D)

        # Context scores: content (q+u).k plus position (q+v).r, both over sqrt(D).
        content = torch.einsum("bihd,bjhd->bhij", q + self.u_bias, k)  # (B,H,T,S)
        by_distance = torch.einsum("bihd,khd->bhik", q + self.v_bias, r)  # (B,H,T,S): column k is distance S-1-k
        # Query i sits at position M+i of [memory ; current], so key j is at
        # distance M+i-j, in column S-1-(M+i-j) = j+T-1-i (Transformer-XL's
        # relative shift, written as a gather). Columns past S-1 belong to
        # keys j > i+M, which the mask below hides.
        i = torch.arange(T, device=normed.device).view(T, 1)
        j = torch.arange(S, device=normed.device).view(1, S)
        column = (j + T - 1 - i).clamp(max=S - 1)  # (T,S)
        position = by_distance.gather(3, column.expand(B, H, T, S))
        scores = (content + position) / math.sqrt(D)
        # Same-length mask: query i sees itself and the M keys before it.
        visible = (j >= i) & (j <= i + M)
        scores = scores.masked_fill(~visible, float("-inf"))
        if N > 0:
            # Persistent keys take the raw query, unscaled: q.(sqrt(D) k_p)/sqrt(D) = q.k_p.
            scores = torch.cat([scores, torch.einsum("bihd,hnd->bhin", q, self.persist_k)], dim=3)  # (B,H,T,S+N)
        probs = torch.softmax(scores, dim=3)

        # Weighted sum over [values ; sqrt(N) persistent values].
        heads = torch.einsum("bhij,bjhd->bihd", probs[..., :S], v)  # (B,T,H,D)
        if N > 0:
            heads = heads + math.sqrt(N) * torch.einsum("bhin,hnd->bihd", probs[..., S:], self.persist_v)
        if gate is not None:
            heads = heads * gate.view(1, 1, H, 1)  # the pruning gate scales each head's output
        return self.out(heads.reshape(B, T, H * D))


class FeedForward(nn.Module):
    """The Transformer-XL baseline's block after the attention
    (models/feedforward.cpp): x + W2 relu(W1 LN(x) + b1) + b2."""

    def __init__(self, C, F_, eps):
        super().__init__()
        self.norm = nn.LayerNorm(C, eps=eps)
        self.add_module("in", nn.Linear(C, F_))  # "in" is a Python keyword, hence add_module
        self.out = nn.Linear(F_, C)

    def forward(self, x):
        return x + self.out(torch.relu(getattr(self, "in")(self.norm(x))))


class Layer(nn.Module):
    """Pre-LayerNorm over [memory ; current], attention, residual add to the
    un-normalised input; then the baseline's feed-forward block if any. A
    layer whose heads were all removed is x + its output bias."""

    def __init__(self, C, H, D, N, F_, eps, gated):
        super().__init__()
        self.H = H
        if H > 0:
            self.norm = nn.LayerNorm(C, eps=eps)  # the config's layernorm_eps
        self.attn = Attention(C, H, D, N, gated)
        if F_ > 0:
            self.ffn = FeedForward(C, F_, eps)

    def forward(self, x, mem, r_table, gate):
        """x (B,T,C), mem (B,M,C), r_table (S,C), gate (H) or None -> (B,T,C)"""
        if self.H == 0:
            x = x + self.attn.out.bias
        else:
            normed = self.norm(torch.cat([mem, x], dim=1))  # (B,S,C)
            x = x + self.attn(normed, mem.shape[1], r_table, gate)
        return self.ffn(x) if hasattr(self, "ffn") else x


def cluster_width(C, div, i):
    """d_i = floor(C / div^i), with the engine's margin for exact quotients."""
    return int(math.floor(C / div ** i + 1e-9))


class Adaptive(nn.Module):
    """Adaptive input and softmax (models/adaptive.h). Words are frequency
    sorted; cutoffs split them into clusters, cluster 0 the shortlist. Cluster
    i has a table E_i (V_i, d_i) and a projection P_i (C, d_i):
      input:  w in cluster i -> E_i[w - begin_i] P_i^T  (C)
      output: head = [E_0 (Q h) + b_0 ; W h + b_c]   (shortlist words, then one logit per tail cluster)
              log p(w) = log softmax(head)[w]                                   w in cluster 0
              log p(w) = log softmax(head)[c_0+i-1] + log softmax(E_i (h P_i) + b_i)[w - begin_i]
    """

    def __init__(self, V, C, cutoffs, div):
        super().__init__()
        self.begin = [0] + list(cutoffs) + [V]
        widths = [cluster_width(C, div, i) for i in range(len(cutoffs) + 1)]
        sizes = [self.begin[i + 1] - self.begin[i] for i in range(len(widths))]
        self.embed = nn.ModuleList(_Weight(n, d) for n, d in zip(sizes, widths))
        self.proj = nn.ModuleList(_Weight(C, d) for d in widths)
        self.bias = nn.ParameterList(nn.Parameter(torch.empty(n)) for n in sizes)
        self.head_proj = _Weight(C, C)  # Q: the shortlist's own output projection
        self.cluster = nn.Linear(C, len(cutoffs))  # W, b_c

    def input(self, tokens):
        """tokens (B,T) -> (B,T,C)"""
        C = self.head_proj.weight.shape[0]
        out = self.head_proj.weight.new_zeros(*tokens.shape, C)
        for i in range(len(self.embed)):
            words = (tokens >= self.begin[i]) & (tokens < self.begin[i + 1])
            out[words] = self.embed[i].weight[tokens[words] - self.begin[i]] @ self.proj[i].weight.t()
        return out

    def log_probs(self, h):
        """h (B,T,C) -> (B,T,V) log p(word) for every word."""
        c0 = self.begin[1]
        head = torch.cat([(h @ self.head_proj.weight.t()) @ self.embed[0].weight.t() + self.bias[0],
                          self.cluster(h)], dim=-1).log_softmax(-1)
        parts = [head[..., :c0]]
        for i in range(1, len(self.embed)):
            tail = ((h @ self.proj[i].weight) @ self.embed[i].weight.t() + self.bias[i]).log_softmax(-1)
            parts.append(head[..., c0 + i - 1:c0 + i] + tail)
        return torch.cat(parts, dim=-1)


# The sidecar config keys this module reads, with their JSON types.
_CONFIG_KEYS = {"layers": int, "d_model": int, "heads": int, "d_head": int, "persist": int, "d_ffn": int,
               "seg_len": int, "mem_len": int, "max_len": int, "heads_per_layer": list,
               "adaptive_cutoffs": list, "adaptive_div": (int, float), "tokenizer": str,
               "output_scaling": bool, "batch": int, "eval_segments": int, "layernorm_eps": (int, float)}


def _check_config(config, where):
    """The sidecar's config -> the same dict, or CheckpointError naming the key."""
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: 'config' is not an object")
    for key, kind in _CONFIG_KEYS.items():
        value = config.get(key)
        if value is None:
            raise CheckpointError(f"{where}: the config has no '{key}'")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CheckpointError(f"{where}: config key '{key}' has the wrong type ({value!r})")
    c = config
    for key in ("layers", "d_model", "d_head", "seg_len"):
        if c[key] <= 0:
            raise CheckpointError(f"{where}: config key '{key}' must be positive, got {c[key]}")
    for key in ("heads", "persist", "d_ffn", "mem_len", "batch", "eval_segments"):
        if c[key] < 0:
            raise CheckpointError(f"{where}: config key '{key}' must be >= 0, got {c[key]}")
    if c["seg_len"] + c["mem_len"] > c["max_len"]:
        raise CheckpointError(f"{where}: seg_len + mem_len = {c['seg_len'] + c['mem_len']} exceeds max_len {c['max_len']}")
    hpl = c["heads_per_layer"]
    if hpl and (len(hpl) != c["layers"] or not all(isinstance(h, int) and h >= 0 for h in hpl)):
        raise CheckpointError(f"{where}: heads_per_layer {hpl} does not give a head count >= 0 for each of {c['layers']} layers")
    cuts = c["adaptive_cutoffs"]
    if not all(isinstance(x, int) for x in cuts) or any(b <= a for a, b in zip([0] + cuts, cuts)):
        raise CheckpointError(f"{where}: adaptive_cutoffs must be positive and strictly increasing, got {cuts}")
    if cuts and (c["adaptive_div"] < 1 or cluster_width(c["d_model"], c["adaptive_div"], len(cuts)) < 1):
        raise CheckpointError(f"{where}: adaptive_div {c['adaptive_div']} leaves a cluster of width 0")
    if not 0 < c["layernorm_eps"] < 1:
        raise CheckpointError(f"{where}: layernorm_eps must be in (0, 1), got {c['layernorm_eps']}")
    if c["tokenizer"] not in ("char", "word"):
        raise CheckpointError(f"{where}: tokenizer must be char or word, got {c['tokenizer']!r}")
    return c


class HeadcountLM(nn.Module):
    """The All-attention LM of a headcount checkpoint (models/allatt_lm.cpp),
    in evaluation: no dropout, gates read deterministically."""

    def __init__(self, config, vocab, gated=False):
        super().__init__()
        c = self.config = _check_config(dict(config), "config")
        self.vocab = vocab
        V, C = len(vocab), c["d_model"]
        self.heads_per_layer = list(c["heads_per_layer"]) or [c["heads"]] * c["layers"]
        self.gated = gated
        if c["adaptive_cutoffs"]:
            if c["adaptive_cutoffs"][-1] >= V:
                raise CheckpointError(f"config: adaptive_cutoffs entry {c['adaptive_cutoffs'][-1]} "
                                      f"is not below the vocabulary size {V}")
            self.adaptive = Adaptive(V, C, c["adaptive_cutoffs"], c["adaptive_div"])
        else:
            self.embed = _Weight(V, C)  # also the output layer (tied)
        self.pos = _Weight(c["max_len"], C)  # row j <-> relative distance max_len-1-j
        self.layers = nn.ModuleList(Layer(C, H, c["d_head"], c["persist"], c["d_ffn"], c["layernorm_eps"], gated)
                                    for H in self.heads_per_layer)
        # Checkpoint metadata carried through save().
        self.step, self.best_valid_loss = 0, 0.0

    # -- loading and saving --------------------------------------------------

    @classmethod
    def load(cls, path):
        """A checkpoint by its .safetensors path (or stem); its .json sidecar
        and the vocabulary it names sit beside it."""
        stem = path[:-len(".safetensors")] if path.endswith(".safetensors") else path
        side_path = stem + ".json"
        try:
            with open(side_path, "rb") as f:
                side = json.loads(f.read().decode("utf-8"))
        except OSError as e:
            raise CheckpointError(f"checkpoint {side_path}: cannot read the sidecar ({e.strerror}): "
                                  "a headcount checkpoint is NAME.safetensors with NAME.json beside it") from None
        except (UnicodeDecodeError, ValueError):
            raise CheckpointError(f"checkpoint {side_path}: the sidecar is not valid JSON") from None
        if not isinstance(side, dict) or side.get("format") != FORMAT:
            found = side.get("format") if isinstance(side, dict) else None
            raise CheckpointError(f"checkpoint {side_path}: not a headcount checkpoint (format {found!r}, expected {FORMAT!r})")
        for key, kind in (("config", dict), ("step", int), ("vocab", str)):
            if not isinstance(side.get(key), kind):
                raise CheckpointError(f"checkpoint {side_path}: missing or ill-typed field '{key}'")
        config = _check_config(side["config"], f"checkpoint {side_path}")
        tensors, metadata = read_safetensors(stem + ".safetensors")
        if metadata.get("step") != str(side["step"]):
            raise CheckpointError(f"checkpoint {stem}: the tensor file is not from step {side['step']} that the sidecar names "
                                  f"(its metadata says {metadata.get('step')!r})")
        vocab_path = os.path.join(os.path.dirname(stem), side["vocab"])
        if not os.path.isfile(vocab_path):
            raise CheckpointError(f"checkpoint {side_path}: its vocabulary {vocab_path} is missing "
                                  "(the sidecar's 'vocab' names it, relative to the checkpoint's folder)")
        vocab = Vocabulary.load(vocab_path)
        if vocab.kind != config["tokenizer"]:
            raise CheckpointError(f"checkpoint {side_path}: the vocabulary {vocab_path} is {vocab.kind} level, "
                                  f"the config's tokenizer is {config['tokenizer']}")

        # Training state is not part of the model: optimizer moments and the
        # memory carried between training batches are left out.
        weights = {k: v for k, v in tensors.items() if not k.startswith(("optim.", "memory."))}
        gated = any(k.endswith(".attn.gate.log_alpha") for k in weights)
        try:
            model = cls(config, vocab, gated)
        except CheckpointError as e:
            raise CheckpointError(f"checkpoint {side_path}: {e}") from None
        model._load_weights(weights, f"checkpoint {stem}.safetensors")
        model.step = side["step"]
        model.best_valid_loss = float(side.get("best_valid_loss", 0.0))
        return model

    def _load_weights(self, weights, where):
        """Every tensor the config implies, with its shape, and nothing else."""
        expected = self.state_dict()
        c = self.config
        about = (f"the sidecar's config (layers {c['layers']}, d_model {c['d_model']}, heads per layer "
                 f"{self.heads_per_layer}, d_head {c['d_head']}, persist {c['persist']}, d_ffn {c['d_ffn']}, "
                 f"max_len {c['max_len']}, adaptive_cutoffs {c['adaptive_cutoffs']}) and the vocabulary of {len(self.vocab)}")
        for name, slot in expected.items():
            if name not in weights:
                raise CheckpointError(f"{where}: no tensor '{name}', which {about} imply")
            a = weights[name]
            if tuple(a.shape) != tuple(slot.shape):
                raise CheckpointError(f"{where}: tensor '{name}' has shape {list(a.shape)}, "
                                      f"{about} imply {list(slot.shape)}")
            if a.dtype != np.float32:
                raise CheckpointError(f"{where}: tensor '{name}' is {a.dtype}, expected float32")
        extra = sorted(set(weights) - set(expected))
        if extra:
            raise CheckpointError(f"{where}: tensors {extra[:5]} belong to no part of the model {about} describe")
        self.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})

    def save(self, path):
        """Writes a model checkpoint: PATH.safetensors (the parameters as
        float32, no optimizer state or training memory), the sidecar PATH.json
        and the vocabulary PATH.vocab.txt beside them, as `headcount compact`
        writes one. `headcount eval`, `generate` and `prune --from` load it;
        `train --resume` needs optimizer state and refuses it."""
        stem = path[:-len(".safetensors")] if path.endswith(".safetensors") else path
        folder = os.path.dirname(stem)
        if folder:
            os.makedirs(folder, exist_ok=True)
        tensors = {k: v.detach().to("cpu", torch.float32).contiguous().numpy() for k, v in self.state_dict().items()}
        write_safetensors(stem + ".safetensors", tensors, {"format": FORMAT, "step": str(self.step)})
        vocab_name = os.path.basename(stem) + ".vocab.txt"
        _write_atomically(os.path.join(folder, vocab_name), self.vocab.text())
        config = self.config
        side = {"format": FORMAT, "config": config, "step": self.step, "optimizer_steps": 0, "rng_offset": 0,
                "data": {"epoch": 0, "step": 0}, "best_valid_loss": self.best_valid_loss, "vocab": vocab_name,
                "heads_per_layer": config["heads_per_layer"]}
        _write_atomically(stem + ".json", (json.dumps(side, indent=2) + "\n").encode())

    # -- the forward pass ----------------------------------------------------

    def initial_memory(self, B):
        """What the first segment attends to: zeros, L tensors (B,M,C)."""
        p = self.pos.weight
        return [p.new_zeros(B, self.config["mem_len"], self.config["d_model"]) for _ in self.layers]

    def gate_values(self, l):
        """Layer l's gates in evaluation (models/gates.cpp): a head is kept
        iff log_alpha >= 0, its gate exactly 1; with output_scaling the layer
        is scaled by c = clamp(H / (H - closed + 1e-3), 1, H), so its output
        keeps its size as heads close. None for an ungated model."""
        if not self.gated or self.heads_per_layer[l] == 0:
            return None
        log_alpha = self.layers[l].attn.gate.log_alpha.detach()
        z = (log_alpha >= 0).to(log_alpha.dtype)
        if self.config["output_scaling"]:
            H = z.numel()
            closed = H - int(z.sum().item())
            z = z * min(max(H / (H - closed + 1e-3), 1.0), float(H))
        return z

    def forward(self, tokens, memory=None):
        """tokens (B,T) int64, memory: L tensors (B,M,C) or None for a first
        segment -> logits (B,T,V), the next segment's memory.
        With adaptive softmax the logits are log-probabilities (as the engine's)."""
        c = self.config
        B, T = tokens.shape
        M, S = c["mem_len"], c["mem_len"] + T
        if S > c["max_len"]:
            raise ValueError(f"a segment of {T} tokens plus {M} of memory exceeds max_len {c['max_len']}")
        if memory is None:
            memory = self.initial_memory(B)
        if len(memory) != len(self.layers) or any(m.shape != (B, M, c["d_model"]) for m in memory):
            raise ValueError(f"memory must be {len(self.layers)} tensors of shape ({B}, {M}, {c['d_model']})")
        # Embedding, scaled by sqrt(C) as in Transformer-XL.
        h = (self.adaptive.input(tokens) if hasattr(self, "adaptive") else self.embed.weight[tokens]) * math.sqrt(c["d_model"])
        r_table = self.pos.weight[c["max_len"] - S:]  # (S,C): distances S-1 down to 0
        next_memory = []
        for l, layer in enumerate(self.layers):
            # A layer's memory is its own input over the last M positions.
            next_memory.append(torch.cat([memory[l], h], dim=1)[:, T:].detach())
            h = layer(h, memory[l], r_table, self.gate_values(l))
        logits = self.adaptive.log_probs(h) if hasattr(self, "adaptive") else h @ self.embed.weight.t()
        return logits, next_memory

    # -- what the engine's commands do --------------------------------------

    @torch.no_grad()
    def loss(self, text_file, batch=None, segments=None):
        """Mean next-token loss (nats) of a text file, cut as `headcount eval`
        cuts a split (data/eval_split.h): n tokens give P = n-1 predictions, in
        B = batch contiguous streams (B lowered to P if larger); stream b makes
        predictions [b*P//B, (b+1)*P//B), read side by side in segments of
        seg_len with memory carried; at the last step streams with the same
        number of predictions left run together, each group with its own
        streams' memory. segments K > 0 scores only the first K segments of
        each stream. batch and segments default to the checkpoint's batch and
        eval_segments, as in `headcount eval`."""
        with open(text_file, "rb") as f:
            tokens = self.vocab.encode(f.read())
        B = self.config["batch"] if batch is None else batch
        K = self.config["eval_segments"] if segments is None else segments
        T = self.config["seg_len"]
        if len(tokens) < 2:
            raise ValueError(f"{text_file}: {len(tokens)} tokens; scoring needs at least 2 (one prediction)")
        if B <= 0 or K < 0:
            raise ValueError(f"batch must be positive and segments >= 0, got {B} and {K}")
        P = len(tokens) - 1
        B = min(B, P)
        begin = [b * P // B for b in range(B + 1)]
        steps = (-(-P // B) + T - 1) // T  # the longest stream, ceil(P / B) predictions, in segments
        if K > 0:
            steps = min(steps, K)
        ids = torch.tensor(tokens, dtype=torch.int64, device=self.pos.weight.device)
        memory = self.initial_memory(B)
        total, scored = 0.0, 0
        for k in range(steps):
            groups = {}  # predictions left this step (at most T) -> streams
            for b in range(B):
                left = begin[b + 1] - begin[b] - k * T
                if left > 0:
                    groups.setdefault(min(left, T), []).append(b)
            for t, streams in sorted(groups.items(), reverse=True):
                first = torch.tensor([begin[b] + k * T for b in streams], device=ids.device).view(-1, 1)
                at = first + torch.arange(t, device=ids.device)  # (streams, t) prediction = input position
                rows = memory if len(streams) == B else [m[streams] for m in memory]
                logits, rows = self(ids[at], rows)
                if len(streams) == B:
                    memory = rows
                logp = logits.log_softmax(-1)  # already normalised with adaptive softmax: unchanged
                total -= logp.gather(-1, ids[at + 1].unsqueeze(-1)).double().sum().item()
                scored += at.numel()
        return total / scored

    @torch.no_grad()
    def generate_ids(self, prompt, tokens=200, temperature=1.0, top_k=0, seed=1):
        """As `headcount generate` (app/generate.cpp): the prompt is fed in
        segments of at most seg_len tokens with memory carried, then one token
        at a time, each drawn from softmax(logits / temperature) over the top_k
        most likely (all if 0) with Philox(seed) numbers, and fed back in as a
        segment of one. -> (prompt ids, generated ids)."""
        if tokens < 0 or temperature <= 0:
            raise ValueError(f"tokens must be >= 0 and temperature positive, got {tokens} and {temperature}")
        data = prompt.encode("utf-8") if isinstance(prompt, str) else prompt
        ids = self.vocab.encode(data)
        if not ids:
            raise ValueError("the prompt is empty (for the word tokenizer, a prompt needs at least one word)")
        for i, t in enumerate(ids):
            if t == 0:
                what = f"byte {data[i]}" if self.vocab.kind == "char" else f"word {i + 1}"
                raise ValueError(f"prompt: {what} is not in the model's vocabulary")
        device, T, V = self.pos.weight.device, self.config["seg_len"], len(self.vocab)
        memory = self.initial_memory(1)

        def feed(segment):
            nonlocal memory
            logits, memory = self(torch.tensor([segment], device=device), memory)
            return logits[0, -1].double().cpu().numpy()

        for at in range(0, len(ids), T):
            last = feed(ids[at:at + T])
        produced = []
        k = min(top_k, V) if top_k > 0 else V
        for n in range(tokens):
            order = np.argsort(-last, kind="stable")[:k]  # the k most likely, best first
            p = np.exp((last[order] - last[order[0]]) / temperature)
            total = np.cumsum(p)  # sequential sums, as std::accumulate
            u = philox_uniform(seed, n) * total[-1]
            # The first token whose cumulative weight exceeds u (the last if none).
            choice = int(order[min(int(np.searchsorted(total, u, side="right")), k - 1)])
            produced.append(choice)
            last = feed([choice])
        return ids, produced

    def generate(self, prompt, tokens=200, temperature=1.0, top_k=0, seed=1):
        """The prompt and its continuation, as `headcount generate` prints them
        (bytes that are not UTF-8 shown as U+FFFD)."""
        _, produced = self.generate_ids(prompt, tokens, temperature, top_k, seed)
        data = prompt.encode("utf-8") if isinstance(prompt, str) else prompt
        return (data + self.vocab.decode(produced)).decode("utf-8", errors="replace")


def load(path):
    """A headcount checkpoint (.safetensors path) as a HeadcountLM."""
    return HeadcountLM.load(path)


# ---------------------------------------------------------------------------
# Command line.

def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="headcount_torch.py",
        description="A headcount checkpoint in PyTorch: score a text file as `headcount eval` does, "
                    "or continue a prompt as `headcount generate` does.")
    commands = parser.add_subparsers(dest="command", required=True)
    loss = commands.add_parser("loss", help="mean next-token loss of a text file",
                               description="Mean next-token loss of FILE, cut into batch streams and segments "
                                           "as `headcount eval` cuts a split.")
    loss.add_argument("file", help="a text file (e.g. a corpus's valid.txt)")
    loss.add_argument("--batch", type=int, help="streams (default: the checkpoint's batch)")
    loss.add_argument("--segments", type=int, help="score only the first K segments of each stream (default: the checkpoint's eval_segments; 0 = all)")
    loss.add_argument("--json", action="store_true", help="also print the result as JSON")
    gen = commands.add_parser("generate", help="continue a prompt",
                              description="Feeds the prompt, then samples tokens one at a time from "
                                          "softmax(logits / T) over the K most likely, as `headcount generate`.")
    gen.add_argument("--prompt", default="\n")
    gen.add_argument("--tokens", type=int, default=200)
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0, help="0 = all tokens")
    gen.add_argument("--seed", type=int, default=1)
    for p in (loss, gen):
        p.add_argument("--from", dest="checkpoint", required=True, help="a checkpoint's .safetensors file")
    args = parser.parse_args(argv)
    try:
        model = load(args.checkpoint)
        if args.command == "loss":
            nats = model.loss(args.file, args.batch, args.segments)
            if model.vocab.kind == "char":
                print(f"loss {nats:.4f} nats, {nats / math.log(2):.4f} bits per byte")
            else:
                print(f"loss {nats:.4f} nats, perplexity {math.exp(nats):.2f}")
            if args.json:
                print(json.dumps({"file": args.file, "loss": nats}))
        else:
            prompt = os.fsencode(args.prompt)  # the bytes given, as the engine reads argv
            _, produced = model.generate_ids(prompt, args.tokens, args.temperature, args.top_k, args.seed)
            sys.stdout.buffer.write(prompt + model.vocab.decode(produced) + b"\n")
            sys.stdout.flush()
    except (CheckpointError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
