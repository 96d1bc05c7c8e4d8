"""Reference optimizer runs for tests/test_optim.cpp, in float64 torch.

Input JSON: {"kind": "adamw"|"lamb"|"clip", "lr": [per step], "betas": [b1, b2],
"eps": e, "bias_correction": bool, "groups": [{"names": [...], "lr_scale": s,
"weight_decay": wd}], "params": {name: {"shape": [...], "values": [...]}},
"grads": [{name: [...]} per step], "max_norm": x (clip only)}.
Output JSON: {"params": [{name: [...]} after each step]} or, for clip,
{"norm": n, "grads": {name: [...]}}.

AdamW is torch.optim.AdamW. LAMB is written here from its formula (the
NVIDIA Transformer-XL variant: trust ratio min(||w||, 10) / ||u||).
"""
import json
import sys

import torch


def lamb_step(params, grads, m, v, t, lr, betas, eps, bias_correction, weight_decay=0.0):
    """One LAMB step over dicts of tensors (in place), from the formula."""
    b1, b2 = betas
    with torch.no_grad():
        for n, w in params.items():
            g = grads[n]
            m[n] = b1 * m[n] + (1 - b1) * g
            v[n] = b2 * v[n] + (1 - b2) * g * g
            m_hat, v_hat = m[n], v[n]
            if bias_correction:
                m_hat = m_hat / (1 - b1 ** t)
                v_hat = v_hat / (1 - b2 ** t)
            u = m_hat / (v_hat.sqrt() + eps) + weight_decay * w
            wn, un = min(float(w.norm()), 10.0), float(u.norm())
            w -= lr * (wn / un if wn > 0 and un > 0 else 1.0) * u


def main():
    cfg = json.load(open(sys.argv[1]))
    params = {n: torch.tensor(p["values"], dtype=torch.float64).reshape(p["shape"]).requires_grad_()
              for n, p in cfg["params"].items()}
    out = {}
    if cfg["kind"] == "clip":
        for n, p in params.items():
            p.grad = torch.tensor(cfg["grads"][0][n], dtype=torch.float64).reshape(p.shape)
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), cfg["max_norm"])
        out = {"norm": float(norm), "grads": {n: p.grad.flatten().tolist() for n, p in params.items()}}
    elif cfg["kind"] == "adamw":
        groups = [{"params": [params[n] for n in g["names"]], "lr": 1.0,
                   "weight_decay": g["weight_decay"], "lr_scale": g["lr_scale"]}
                  for g in cfg["groups"]]
        opt = torch.optim.AdamW(groups, betas=tuple(cfg["betas"]), eps=cfg["eps"])
        history = []
        for step, grads in enumerate(cfg["grads"]):
            for n, p in params.items():
                p.grad = torch.tensor(grads[n], dtype=torch.float64).reshape(p.shape)
            for g in opt.param_groups:
                g["lr"] = cfg["lr"][step] * g["lr_scale"]
            opt.step()
            history.append({n: p.detach().flatten().tolist() for n, p in params.items()})
        out = {"params": history}
    else:  # lamb
        m = {n: torch.zeros_like(p) for n, p in params.items()}
        v = {n: torch.zeros_like(p) for n, p in params.items()}
        history = []
        for step, grads in enumerate(cfg["grads"]):
            for g in cfg["groups"]:
                group = {n: params[n] for n in g["names"]}
                grad = {n: torch.tensor(grads[n], dtype=torch.float64).reshape(params[n].shape) for n in group}
                lamb_step(group, grad, m, v, step + 1, cfg["lr"][step] * g["lr_scale"], cfg["betas"],
                          cfg["eps"], cfg["bias_correction"], g["weight_decay"])
            history.append({n: p.detach().flatten().tolist() for n, p in params.items()})
        out = {"params": history}
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
