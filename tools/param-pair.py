#!/usr/bin/env python3
"""Write a parameter-matched pair of configs: a Transformer-XL baseline with a
feed-forward block of ffn_mult x the model width, and an All-attention model
whose persistent vectors own what that block owns.

Sukhbaatar et al. (2019) match the two by 2 H N D = 2 C F: a layer's H heads
with N persistent keys and values of width D hold as many numbers as a
feed-forward block C -> F -> C. Everything else (width, heads, depth,
memory, data and recipe) is the base config's, except the number of
training steps when --steps is given (the pair trains longer than the demo
model: its dense runs should have stopped improving) and the step where the
cosine decay ends when --decay-steps is given (min_lr holds after it, so the
last steps measure training's gains, not the decay's). The non-embedding parameter
counts of both models are printed (docs/spec.md section 9 gives the
formula; tests/test_param_pair.cpp checks these counts against the engine's
models), and a pair that differs by more than 1% is refused.

usage: tools/param-pair.py BASE.json OUT_PREFIX [--ffn-mult 4] [--steps N] [--decay-steps S]
  writes OUT_PREFIX-allatt.json and OUT_PREFIX-txl.json
"""
import argparse
import json
import re
import sys


def load_config(path):
    """A headcount config: JSON with // comments."""
    text = open(path).read()
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))


def non_embedding_parameters(c):
    """The engine's count (AllAttConfig::analytic_parameters without the
    embedding side) for a model with every layer at `heads` heads."""
    C, H, D, N, F = c["d_model"], c["heads"], c["d_head"], c.get("persist", 0), c.get("d_ffn", 0)
    attention = 4 * H * D * C + 2 * H * D + 2 * H * N * D + C * H * D + C + 2 * C
    ffn = 2 * C * F + F + C + 2 * C if F > 0 else 0
    return c["layers"] * (attention + ffn)


def pair(base, ffn_mult, schedule):
    base = dict(base, **schedule)
    C, H, D = base["d_model"], base["heads"], base["d_head"]
    F = ffn_mult * C
    if (C * F) % (H * D):
        raise ValueError(f"C F = {C * F} is not a multiple of H D = {H * D}: no whole N matches the block")
    allatt = dict(base, persist=C * F // (H * D), d_ffn=0)
    txl = dict(base, persist=0, d_ffn=F)
    return allatt, txl


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base")
    ap.add_argument("out_prefix")
    ap.add_argument("--ffn-mult", type=int, default=4)
    ap.add_argument("--steps", type=int, help="training steps of both (default: the base config's)")
    ap.add_argument("--decay-steps", type=int, help="the step where the cosine decay ends (default: the last step)")
    a = ap.parse_args()
    schedule = {k: v for k, v in (("steps", a.steps), ("decay_steps", a.decay_steps)) if v is not None}
    for key, value in schedule.items():
        if value <= 0:
            ap.error(f"--{key.replace('_', '-')} must be positive, got {value}")
    allatt, txl = pair(load_config(a.base), a.ffn_mult, schedule)
    n_all, n_txl = non_embedding_parameters(allatt), non_embedding_parameters(txl)
    gap = abs(n_all - n_txl) / max(n_all, n_txl)
    print(f"All-attention (N = {allatt['persist']}): {n_all} non-embedding parameters")
    print(f"Transformer-XL (F = {txl['d_ffn']}): {n_txl} non-embedding parameters")
    print(f"difference: {100 * gap:.2f}%")
    if gap > 0.01:
        print(f"refused: the pair differs by {100 * gap:.2f}% (> 1%)", file=sys.stderr)
        return 2
    for name, c, count in (("allatt", allatt, n_all), ("txl", txl, n_txl)):
        c["out_dir"] = f"runs/{a.out_prefix.split('/')[-1]}-{name}"
        with open(f"{a.out_prefix}-{name}.json", "w") as f:
            flags = "".join(f" --{key.replace('_', '-')} {value}" for key, value in schedule.items())
            f.write(f"// Written by tools/param-pair.py {a.base} --ffn-mult {a.ffn_mult}{flags}: the parameter-matched\n"
                    f"// pair (2 H N D = 2 C F), {count} non-embedding parameters; the pair differs by {100 * gap:.2f}%.\n")
            f.write(json.dumps(c, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
