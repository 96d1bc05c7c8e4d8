"""What data parallelism costs at scale: a ring all-reduce model for wt103-all-16l.

    /usr/bin/python3 bench/allreduce_model.py --step-seconds S [--source "where S was measured"]

S is the time of one training step of one worker (forward, backward and
optimizer, without communication). Each step every worker all-reduces the
gradients: a ring over R workers sends and receives 2 (R-1)/R of the bytes
through each worker's slowest link, plus 2 (R-1) hops of latency per bucket
(app/data_parallel.cpp sends buckets of 4M floats; NCCL pipelines its own
chunks but pays the same per-hop latency along the ring). headcount does not
overlap the all-reduce with backward, so

    efficiency(R) = S / (S + allreduce(R))      (per-worker batch fixed).

A pruned model has fewer bytes to send but also less to compute: in this
model every FLOP of a layer belongs to a head (no FFN), so its step time is
taken as S x kept/128, neglecting the embedding and softmax side (which makes
the pruned rows slightly pessimistic).

Link figures are assumptions, not measurements, and are printed with the table:
NVLink 4 at 450 GB/s per direction per GPU inside an 8-GPU node, and one network
card per GPU at 100 or 400 Gb/s between nodes (12.5 or 50 GB/s).
"""
import argparse

# The paper's model (docs/spec.md sections 7 and 9).
L, C, H, D, N = 16, 512, 8, 64, 2048
PER_HEAD = 4 * D * C + 2 * D + 2 * N * D + C * D  # q k v r rows, u/v, persistent, output columns
PER_LAYER_FIXED = C + 2 * C                        # output bias, LayerNorm
# Adaptive input + softmax (cutoffs 20000/40000/200000, div 4) and the
# position table, from the spec's count: they do not change with heads.
EMBEDDING_SIDE = 18_810_000 + 530_000 + 262_144

LINKS = {  # bytes/s per direction per worker, and the latency of one hop
    "NVLink (1 node)": (450e9, 5e-6),
    "100 Gb/s": (12.5e9, 10e-6),
    "400 Gb/s": (50e9, 10e-6),
}
BUCKET_FLOATS = 1 << 22


def parameters(heads_kept):
    return heads_kept * PER_HEAD + L * PER_LAYER_FIXED + EMBEDDING_SIDE


def allreduce_seconds(nbytes, ranks, bandwidth, latency):
    if ranks == 1:
        return 0.0
    buckets = -(-nbytes // (4 * BUCKET_FLOATS))
    return 2 * (ranks - 1) / ranks * nbytes / bandwidth + buckets * 2 * (ranks - 1) * latency


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step-seconds", type=float, required=True, help="one worker's step time without communication")
    ap.add_argument("--source", default="", help="where the step time was measured, printed with the table")
    args = ap.parse_args()
    S = args.step_seconds
    print(f"step time S = {S:.3f} s per worker ({args.source})")
    print("| model | parameters | gradient MB | link | R=8: all-reduce ms, efficiency | R=64 | R=512 |")
    print("|---|---|---|---|---|---|---|")
    for name, kept in [("dense, 128 heads", L * H), ("pruned, 73 heads (paper)", 73), ("pruned, 32 heads", 32)]:
        nbytes = 4 * parameters(kept)
        for link, (bw, lat) in LINKS.items():
            cells = []
            step = S * kept / (L * H)
            for ranks in (8, 64, 512):
                # Eight GPUs share a node's NVLink; beyond that the ring crosses the network.
                if link.startswith("NVLink") and ranks > 8:
                    cells.append("-")
                    continue
                t = allreduce_seconds(nbytes, ranks, bw, lat)
                cells.append(f"{1e3 * t:.0f} ms, {100 * step / (step + t):.0f}%")
            print(f"| {name} | {parameters(kept) / 1e6:.2f}M | {nbytes / 1e6:.0f} | {link} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
