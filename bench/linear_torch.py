"""The PyTorch peer of bench/linear.cpp: a linear layer's forward + backward
(x (R,C) -> (R,C), with bias) at the same shapes, thread count and timing
method (fastest of 30 after 20 warm-up runs; with --quick, as bench_linear
--quick: C = 128, R = 1024 only, fastest of 5 after 2). Prints JSON rows.
Run with Debian's /usr/bin/python3 (the one with torch)."""
import json
import os
import sys
import time

import torch


def fastest_seconds(f, warmup, reps):
    for _ in range(warmup):
        f()
    t = []
    for _ in range(reps):
        a = time.perf_counter()
        f()
        t.append(time.perf_counter() - a)
    return min(t)


def main():
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    blas_threads = int(os.environ.get("OPENBLAS_NUM_THREADS", threads))
    quick = "--quick" in sys.argv[1:]
    warmup, reps = (2, 5) if quick else (20, 30)
    rows = []
    for R in (1024,) if quick else (1024, 4096):
        for C in (128,) if quick else (128, 256, 512):
            layer = torch.nn.Linear(C, C)
            x = torch.randn(R, C, requires_grad=True)
            seed = torch.full((R, C), 0.01)

            def step():
                x.grad = None
                layer.zero_grad(set_to_none=True)
                layer(x).backward(seed)

            s = fastest_seconds(step, warmup, reps)
            rows.append({"C": C, "R": R, "threads": threads, "openblas_threads": blas_threads,
                         "torch_gflops": 6.0 * R * C * C / s * 1e-9,
                         "torch_ms": s * 1e3})
    print(json.dumps({"rows": rows, "torch": torch.__version__,
                      "mkldnn": torch.backends.mkldnn.is_available(),
                      "config": torch.__config__.show().splitlines()[1:6]}))


if __name__ == "__main__":
    main()
