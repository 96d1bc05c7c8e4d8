"""PyTorch side of tests/test_torch_parity.cpp: the same ops on the same
inputs, in float32, with torch's own implementations.

Input JSON: {op_name: {"inputs": {name: {"shape", "values"}}, "weight": {...},
             ...op-specific fields}}.
Output JSON: {op_name: {"y": [...], "grads": {input name: [...]}}}, where the
gradients are those of sum(y * weight).
"""
import json
import sys

import torch
import torch.nn.functional as F


def tensor(e):
    return torch.tensor(e["values"], dtype=torch.float32).reshape(e["shape"])


def band_mask(rows, ctx, lo, hi, width):
    i = torch.arange(rows)[:, None]
    j = torch.arange(width)[None, :]
    return (j >= ctx) | ((j >= i + lo) & (j <= i + hi))


def run(name, spec):
    x = {k: tensor(v).requires_grad_() for k, v in spec["inputs"].items()}
    if name.startswith("matmul"):
        a = x["a"].t() if spec["trans_a"] else x["a"]
        b = x["b"].t() if spec["trans_b"] else x["b"]
        y = a @ b
    elif name == "layernorm":
        y = F.layer_norm(x["x"], (x["x"].shape[-1],), x["w"], x["b"], eps=1e-5)
    elif name == "masked_softmax":
        G, T, W = x["x"].shape
        visible = band_mask(T, spec["ctx_cols"], spec["lo"], spec["hi"], W)
        y = torch.softmax(x["x"].masked_fill(~visible, float("-inf")), dim=-1)
    elif name == "cross_entropy":
        y = F.cross_entropy(x["logits"], torch.tensor(spec["targets"]), ignore_index=-100).reshape(1)
    else:
        raise ValueError(name)
    (y * tensor(spec["weight"])).sum().backward()
    return {"y": y.detach().flatten().tolist(),
            "grads": {k: v.grad.flatten().tolist() for k, v in x.items()}}


def main():
    torch.set_num_threads(1)
    spec = json.load(open(sys.argv[1]))
    json.dump({name: run(name, s) for name, s in spec.items()}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
