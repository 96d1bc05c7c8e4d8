"""PyTorch side of tests/test_model_parity.cpp.

Loads the engine's initial checkpoint (safetensors) and a batch description
(JSON: config, two segments of tokens), and computes with the independent
model of allatt_ref.py, in float32:
  - the loss of segment 1 (zero memory) and of segment 2 (memory of segment 1),
  - the gradient of the segment-2 loss with respect to every parameter,
  - 10 optimizer steps (Adam, and LAMB without bias correction), each on
    segment 1 then segment 2, reporting every step's segment-2 loss.
Writes the gradients to a safetensors file and the losses to JSON.
usage: model_check.py params.safetensors batch.json grads.safetensors out.json
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import allatt_ref  # noqa: E402
import optim_check  # noqa: E402
import safetensors_np  # noqa: E402


def losses(p, cfg, batch, gates=None):
    B, M, C = len(batch["x1"]), cfg["mem_len"], cfg["d_model"]
    mems = [torch.zeros(B, M, C) for _ in range(cfg["layers"])]
    # The adaptive model's outputs are log-probabilities already.
    loss = F.nll_loss if cfg.get("adaptive_cutoffs") else F.cross_entropy
    out = []
    for x, y in (("x1", "y1"), ("x2", "y2")):
        logits, mems = allatt_ref.model_forward(p, cfg, torch.tensor(batch[x]), mems, gates)
        out.append(loss(logits.reshape(-1, logits.shape[-1]), torch.tensor(batch[y]).reshape(-1)))
    return out


def cross_check_adaptive(p, cfg):
    """allatt_ref's adaptive softmax against torch.nn.AdaptiveLogSoftmaxWithLoss
    on random hidden states. torch's head has no projection and its tails no
    bias, so its head weight is the product E_0 Q stacked on the cluster
    logits W, its tail i is P_i^T then E_i, and the tail biases are zeroed on
    our side for the comparison."""
    with torch.no_grad():
        V = sum(w.shape[0] for k, w in p.items() if k.startswith("adaptive.bias."))
        C, K = cfg["d_model"], len(cfg["adaptive_cutoffs"])
        module = torch.nn.AdaptiveLogSoftmaxWithLoss(C, V, cfg["adaptive_cutoffs"], cfg["adaptive_div"], head_bias=True)
        module.head.weight.copy_(torch.cat([p["adaptive.embed.0.weight"] @ p["adaptive.head_proj.weight"],
                                            p["adaptive.cluster.weight"]]))
        module.head.bias.copy_(torch.cat([p["adaptive.bias.0"], p["adaptive.cluster.bias"]]))
        q = dict(p)
        for i in range(1, K + 1):
            module.tail[i - 1][0].weight.copy_(p[f"adaptive.proj.{i}.weight"].t())
            module.tail[i - 1][1].weight.copy_(p[f"adaptive.embed.{i}.weight"])
            q[f"adaptive.bias.{i}"] = torch.zeros_like(p[f"adaptive.bias.{i}"])
        h = torch.randn(10, C, generator=torch.Generator().manual_seed(0))
        diff = (module.log_prob(h) - allatt_ref.adaptive_log_probs(q, cfg, h, V)).abs().max().item()
        assert diff < 1e-5, f"adaptive softmax differs from torch.nn.AdaptiveLogSoftmaxWithLoss by {diff}"


def fresh(arrays):
    return {k: torch.tensor(v).requires_grad_() for k, v in arrays.items()}


def main():
    arrays, _ = safetensors_np.load(sys.argv[1])
    batch = json.load(open(sys.argv[2]))
    cfg = batch["config"]
    p = fresh(arrays)
    if cfg.get("adaptive_cutoffs"):
        cross_check_adaptive(p, cfg)
    l1, l2 = losses(p, cfg, batch)
    l2.backward()
    safetensors_np.save(sys.argv[3], {k: v.grad.numpy() for k, v in p.items()})
    result = {"loss1": float(l1), "loss2": float(l2)}

    # With gates: the given per-layer gate values (closed heads and output
    # scaling included) multiply each head's output; gradients for them too.
    p = fresh(arrays)
    gates = [torch.tensor(g, dtype=torch.float32, requires_grad=True) for g in batch["gates"]]
    l2 = losses(p, cfg, batch, gates)[1]
    l2.backward()
    result["gated_loss2"] = float(l2)
    result["gated_grads"] = {**{k: v.grad.flatten().tolist() for k, v in p.items()},
                             **{f"gate{i}": g.grad.tolist() for i, g in enumerate(gates)}}

    p = fresh(arrays)
    opt = torch.optim.Adam(p.values(), lr=batch["lr"])
    result["adam"] = []
    for _ in range(10):
        l2 = losses(p, cfg, batch)[1]
        result["adam"].append(float(l2))
        opt.zero_grad()
        l2.backward()
        opt.step()

    p = fresh(arrays)
    m = {n: torch.zeros_like(w) for n, w in p.items()}
    v = {n: torch.zeros_like(w) for n, w in p.items()}
    result["lamb"] = []
    for t in range(1, 11):
        for w in p.values():
            w.grad = None
        l2 = losses(p, cfg, batch)[1]
        result["lamb"].append(float(l2))
        l2.backward()
        optim_check.lamb_step(p, {n: w.grad for n, w in p.items()}, m, v, t, batch["lr"],
                              (0.9, 0.999), 1e-8, False)
    json.dump(result, open(sys.argv[4], "w"))


if __name__ == "__main__":
    main()
