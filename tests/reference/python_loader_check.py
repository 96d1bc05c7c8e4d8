"""Runs python/headcount_torch.py on the checkpoints tests/test_python_loader.cpp
made with the engine, and prints what it computed as one JSON object; the
C++ test compares it with the engine. One process for every check, so that
PyTorch is imported once.

usage: python_loader_check.py PLAN.json

PLAN: {"text": FILE, "batch": B, "segments": K,
       "models": {NAME: {"path": CKPT, "tokens": [[...], ...] (B, 2T) ids,
                         "prompt": TEXT, "save": [PATH, ...]}},
       "bad": {NAME: {"path": CKPT, "prompt": TEXT or absent}},
       "philox": [[seed, index], ...]}
OUT:  {"models": {NAME: {"loss": l, "loss_full": l, "logits": [seg1, seg2] flat,
                         "greedy": text, "sampled": text}},
       "bad": {NAME: {"type": exception class or null, "message": str}},
       "philox": [bits, ...], "help": the command line's --help text, "torch": version}
"""
import contextlib
import io
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import headcount_torch as hc  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    torch.set_num_threads(1)  # tiny models; the test machine's cores are shared
    out = {"models": {}, "bad": {}, "torch": torch.__version__}
    for name, m in plan["models"].items():
        model = hc.load(m["path"])
        r = out["models"][name] = {}
        # The config's own batch and eval_segments, then an explicit cut.
        r["loss"] = model.loss(plan["text"])
        r["loss_full"] = model.loss(plan["text"], batch=plan["batch"], segments=plan["segments"])
        with torch.no_grad():
            tokens = torch.tensor(m["tokens"])
            T = tokens.shape[1] // 2
            first, memory = model(tokens[:, :T])
            second, _ = model(tokens[:, T:], memory)  # attends to the first segment's memory
        r["logits"] = [first.flatten().tolist(), second.flatten().tolist()]
        r["greedy"] = model.generate(m["prompt"], tokens=50, top_k=1)
        r["sampled"] = model.generate(m["prompt"], tokens=50, temperature=0.8, top_k=0, seed=7)
        for path in m.get("save", []):
            model.save(path)
    for name, b in plan["bad"].items():
        try:
            model = hc.load(b["path"])
            if "prompt" in b:
                model.generate(b["prompt"], tokens=1)
            out["bad"][name] = {"type": None, "message": "loaded without complaint"}
        except Exception as e:  # the test wants to see which class, and the message
            out["bad"][name] = {"type": type(e).__name__, "message": str(e)}
    out["philox"] = [hc.philox_bits(seed, index) for seed, index in plan["philox"]]
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            hc.main(["--help"])
        except SystemExit:
            pass
    out["help"] = text.getvalue()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
