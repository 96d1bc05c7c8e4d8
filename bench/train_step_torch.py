"""The PyTorch peer of bench/train_step.cpp: the same All-attention model
(tests/reference/allatt_ref.py), same config, batch and tokens, one training
step (forward, backward, clipping, Adam) timed the same way (the fastest of N
after 3 warm-up steps), or with --infer one evaluation forward pass (no
dropout, no gradient, the memory carried). Prints one JSON object.

usage: python3 bench/train_step_torch.py CONFIG.json [--vocab V] [--steps N] [--batch B]
       [--device cpu|cuda] [--tf32] [--compile] [--infer]
(--compile needs PyTorch 2; on the CPU machine Debian's 1.13 lacks it.)
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
import allatt_ref  # noqa: E402

DEFAULTS = {"layers": 2, "d_model": 64, "heads": 4, "d_head": 16, "persist": 64, "seg_len": 32,
            "mem_len": 32, "max_len": 512, "batch": 16, "grad_clip": 0.5, "layernorm_eps": 1e-5,
            "dropout_embed": 0.1, "dropout_pos": 0.1, "dropout_attn": 0.2, "dropout_residual": 0.1,
            "dropout_proj": 0.1, "dropout_output": 0.1}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--vocab", type=int, default=86)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--infer", action="store_true")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    cfg = dict(DEFAULTS)
    text = "\n".join(l for l in open(args.config) if not l.lstrip().startswith("//"))
    cfg.update(json.loads(text))
    if args.batch:
        cfg["batch"] = args.batch
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    params = {k: v.to(dev).requires_grad_() for k, v in allatt_ref.init_params(cfg, args.vocab).items()}
    opt = torch.optim.Adam(params.values(), lr=1e-4)
    B, T, M, C, V = cfg["batch"], cfg["seg_len"], cfg["mem_len"], cfg["d_model"], args.vocab
    i = torch.arange(B * T, device=dev)
    x, y = ((i * 7919) % V).view(B, T), ((i * 104729 + 3) % V).view(B, T)
    mems = [torch.zeros(B, M, C, device=dev) for _ in range(cfg["layers"])]
    forward = allatt_ref.model_forward
    if args.compile:
        forward = torch.compile(allatt_ref.model_forward)

    def step():
        nonlocal mems
        if args.infer:
            with torch.no_grad():
                logits, mems = forward(params, cfg, x, mems, training=False)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            return
        logits, mems = forward(params, cfg, x, mems, training=True)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), cfg["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(3):
        step()
    ms = []
    for _ in range(args.steps):
        a = time.perf_counter()
        step()
        ms.append((time.perf_counter() - a) * 1e3)
    best = min(ms)
    print(json.dumps({"config": args.config, "threads": threads, "batch": B, "device": args.device,
                      "tf32": args.tf32, "compile": args.compile, "mode": "infer" if args.infer else "train",
                      "ms_per_step": best,
                      "tok_s": B * T / (best * 1e-3), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
