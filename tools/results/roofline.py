"""A training step's ops, grouped into parts and set against a roofline.

An op that computes F floating point operations and moves B bytes (the
profiler's analytic counts: every input read and every output written once,
nothing cached) takes at least max(F / peak, B / bandwidth). F / B is its
arithmetic intensity; where bandwidth * F / B >= peak the compute roof is the
limit, else the memory slope. A part's share of its roof is that least time
over its measured time: how close to its own limit it runs. Above 100% means
its data stayed in cache, so main memory's bandwidth was not its limit.
"""

# The ops of attention, op by op (models/allatt_layer.cpp) and fused
# (autograd/ops/attention.cpp); a name's ".backward" belongs with it.
ATTENTION = {"attention", "head_scores", "append_scores", "add_rel_shift", "masked_softmax", "weighted_sum"}
ORDER = ["attention forward", "attention backward", "linear layers (both directions)", "everything else"]


def part_of(op):
    base, _, direction = op.partition(".")
    if base in ATTENTION:
        return "attention backward" if direction == "backward" else "attention forward"
    if base == "linear":
        return "linear layers (both directions)"
    return "everything else"


def least_seconds(p, peak_gflops, bandwidth_gbs):
    return max(p["flops"] / (peak_gflops * 1e9), p["bytes"] / (bandwidth_gbs * 1e9))


def roofline_row(name, p, peak_gflops, bandwidth_gbs, least_s):
    seconds = p["ms"] * 1e-3
    intensity = p["flops"] / p["bytes"] if p["bytes"] > 0 else float("inf")
    return {"part": name, "ms": round(p["ms"], 3), "gflop": round(p["flops"] * 1e-9, 4),
            "mb": round(p["bytes"] * 1e-6, 2), "intensity": round(intensity, 2),
            "gflops": round(p["flops"] / seconds * 1e-9, 1) if seconds > 0 else 0.0,
            "roof_ms": round(least_s * 1e3, 3), "share_of_roof": round(least_s / seconds, 4) if seconds > 0 else 0.0,
            "bound": "compute" if bandwidth_gbs * intensity >= peak_gflops else "memory"}


def roofline_parts(ops, peak_gflops, bandwidth_gbs):
    """ops: [{op, ms, flops, bytes}] -> one row per part, then one for the step
    (its least time: every part at its own roof, one after another)."""
    parts = {}
    for o in ops:
        p = parts.setdefault(part_of(o["op"]), {"ms": 0.0, "flops": 0.0, "bytes": 0.0})
        for k in ("ms", "flops", "bytes"):
            p[k] += o[k]
    rows = [roofline_row(n, parts[n], peak_gflops, bandwidth_gbs, least_seconds(parts[n], peak_gflops, bandwidth_gbs))
            for n in ORDER if n in parts]
    whole = {k: sum(p[k] for p in parts.values()) for k in ("ms", "flops", "bytes")}
    least = sum(least_seconds(p, peak_gflops, bandwidth_gbs) for p in parts.values())
    step = roofline_row("whole step (profiled)", whole, peak_gflops, bandwidth_gbs, least)
    step["bound"] = "each part its own"
    return rows + [step]
