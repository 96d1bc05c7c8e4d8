"""Regenerates the tables and plots of README.md and docs/*.md from the data
that `make results` wrote under docs/data/.

A generated part of a doc sits between two markers on lines of their own:

    <!-- generated: NAME -->
    ... (replaced by RENDERERS[NAME](data)) ...
    <!-- end generated: NAME -->

Every renderer reads only data files, so the same data always gives the
same text (and the same SVG, written to docs/img/). A renderer whose data
is missing says which stage would make it.

    python3 tools/results/render.py            rewrite the docs and plots in place
    python3 tools/results/render.py --check    change nothing; print a diff and exit 1
                                               if a doc or plot differs from its data
    --root DIR   the tree whose docs are rendered (default: this repository)
    --data DIR   the data (default: ROOT/docs/data)
    --out DIR    write the rendered docs and plots under DIR instead of in place
                 (make results QUICK=1 renders its scratch data so)

Needs only the Python standard library (any python3).
"""
import argparse
import difflib
import glob
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import svg  # noqa: E402
from stats import median_interval  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)",
                   re.S)


class Data:
    """The data files under one folder, each read once."""

    def __init__(self, folder):
        self.folder = folder
        self.cache = {}

    def get(self, path):
        """The JSON object at data/PATH, or None if there is no such file."""
        if path not in self.cache:
            full = os.path.join(self.folder, path)
            self.cache[path] = json.load(open(full)) if os.path.exists(full) else None
        return self.cache[path]


# ---- formatting -----------------------------------------------------------

def missing(stage, what, history=True):
    return (f"_Not measured by `make results` yet: `make results STAGES={stage}` writes {what}."
            + (" Earlier hand-typed figures are in the History section." if history else "") + "_\n")


def source(meta, path):
    """One line that says where a table's numbers come from: file, commit, date, machine, command."""
    m = meta["machine"]
    machine = (f"{m['cpu']} ({m['cpu_id']}), {threads(m['threads'])}; FMA peak "
               f"{m['fma_peak_gflops']['one_core']:.0f} GFLOP/s on one core, {m['fma_peak_gflops']['all_cores']:.0f} "
               f"on all; Eigen SGEMM {m['sgemm_gflops']['one_core']:.0f} / {m['sgemm_gflops']['all_cores']:.0f} "
               "(measured as the data was written)")
    quick = " **QUICK run: tiny configs, the numbers mean nothing.**" if meta.get("quick") else ""
    return (f"_Data: `docs/data/{path}`, commit `{meta['commit'][:7]}`{' (uncommitted changes)' if meta['commit'].endswith('-dirty') else ''}, "
            f"{meta['date']}; {machine}. Command: `{meta['command']}`._{quick}\n")


def peer_line(meta):
    p = meta["peer"]
    return f"_Peer: {p['what']}; PyTorch {p['torch']}; {p['blas']}; threads: {p['threads']}._\n"


def interval(lo, hi, coverage, n, unit="x"):
    """An interval's text; a coverage under 95% (too few pairs) is stated."""
    text = f"{lo:.2f}-{hi:.2f}{unit}"
    return text if coverage >= 0.95 else f"{text} (range of {n}, covers {100 * coverage:.0f}%)"


def mean_range(values, fmt="{:.3f}"):
    """"m" for one value (or several equal ones), "m (lo-hi)" otherwise: the mean and the
    range over seeds. fmt "count" prints whole numbers without decimals and a mean of
    counts with one."""
    mean = sum(values) / len(values)
    if fmt == "count":
        fmt = "{:,.0f}" if mean == round(mean) else "{:,.1f}"
        bound = "{:,.0f}"
    else:
        bound = fmt
    if min(values) == max(values):
        return fmt.format(mean)
    return f"{fmt.format(mean)} ({bound.format(min(values))}-{bound.format(max(values))})"


def threads(n):
    return f"{n} thread{'s' if n != 1 else ''}"


def table(header, align, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def bits(loss):
    return loss / math.log(2)


FAMILIES = {"allatt": "All-attention", "txl": "Transformer-XL"}  # the model families of a compare grid


# ---- renderers: each returns (markdown, {image path relative to the root: svg text}) ----

def render_machine(data):
    d = data.get("machine/machine.json")
    if d is None:
        return missing("machine", "the FMA peak and the SGEMM rate"), {}
    rows, m = d["rows"], d["meta"]["machine"]
    def cell(key, where):
        return mean_range([r[key][where] for r in rows], "{:.1f}")
    body = table(["GFLOP/s", "one core", f"all threads ({m['threads']})"], ["---", "---:", "---:"], [
        [f"FMA peak ({rows[0]['fma_kernel']} kernel: independent FMA chains in registers)",
         cell("fma_peak_gflops", "one_core"), cell("fma_peak_gflops", "all_cores")],
        ["Eigen SGEMM, (4096 x 512) x (512 x 512)^T", cell("sgemm_gflops", "one_core"), cell("sgemm_gflops", "all_cores")]])
    note = (f"The mean (min-max) of {len(rows)} measurements in a row, each the fastest of its repetitions.\n"
            if len(rows) > 1 else "")
    return body + "\n" + note + source(d["meta"], "machine/machine.json"), {}


def render_linear(data):
    d = data.get("linear/linear.json")
    if d is None:
        return missing("linear", "the linear layer's rates"), {}
    rows = []
    for r in d["rows"]:
        rows.append([r["C"], r["R"], f"{r['eigen_gflops']:.1f}", f"{r['engine_gflops']:.1f}",
                     f"{r['engine_pct_of_eigen']:.1f}%", f"{r['torch_gflops']:.1f}",
                     f"{r['engine_over_torch']:.2f}x",
                     interval(r["engine_over_torch_lo"], r["engine_over_torch_hi"], r["interval_coverage"], r["pairs"])])
    body = table(["C", "R", "Eigen", "engine", "engine % of Eigen", "torch", "engine / torch", "95% interval"],
                 ["---:"] * 7 + ["---"], rows)
    note = (f"GFLOP/s: each side's best over {d['meta']['rounds']} rounds. *engine / torch*: the median over the "
            "rounds of the ratio of the engine's and the peer's best rates in that round, with its 95% interval.\n")
    return body + "\n" + note + peer_line(d["meta"]) + source(d["meta"], "linear/linear.json"), {}


def render_train_step(data):
    d = data.get("train_step/train_step.json")
    if d is None:
        return missing("train_step", "the training step against PyTorch"), {}
    rows = []
    for r in d["rows"]:
        rows.append([os.path.basename(r["config"]).removesuffix(".json"), f"{r['engine_ms']:.1f}",
                     f"{r['engine_tok_s']:,}", f"{r['torch_ms']:.1f}", f"{r['torch_tok_s']:,}", f"{r['speedup']:.2f}x",
                     interval(r["speedup_lo"], r["speedup_hi"], r["interval_coverage"], r["pairs"]),
                     f"{r['gflops']:.1f}", f"{100 * r['mfu_fma']:.1f}%", f"{100 * r['mfu_sgemm']:.1f}%"])
    body = table(["config", "engine ms/step", "tok/s", "torch ms/step", "tok/s", "speedup", "95% interval", "GFLOP/s",
                  "MFU of FMA peak", "MFU of SGEMM"], ["---"] + ["---:"] * 5 + ["---"] + ["---:"] * 3, rows)
    r0 = d["rows"][0]
    note = (f"ms/step: each side's fastest step over {d['meta']['rounds']} rounds. *speedup*: the median over the "
            "rounds of torch ms / engine ms (each side's best of the round), with its 95% interval. *MFU*: the "
            "engine's FLOP rate (the ops' analytic FLOPs) over the FMA peak and over the Eigen SGEMM rate, each "
            "measured on all threads right after every step; the median of those ratios over every step "
            f"(best ceilings seen beside the steps: FMA peak {r0['fma_peak_gflops']:.0f}, SGEMM "
            f"{r0['sgemm_gflops']:.0f} GFLOP/s).\n")
    return body + "\n" + note + peer_line(d["meta"]) + source(d["meta"], "train_step/train_step.json"), {}


def render_fused(data):
    d = data.get("fused/fused.json")
    if d is None:
        return missing("fused", "the fused attention op against the unfused path", False), {}
    rows = []
    for r in d["rows"]:
        rows.append([os.path.basename(r["config"]).removesuffix(".json"), r["mode"], f"{r['unfused_ms']:.2f}",
                     f"{r['fused_ms']:.2f}", f"{r['speedup']:.2f}x",
                     interval(r["speedup_lo"], r["speedup_hi"], r["interval_coverage"], r["pairs"]),
                     f"{r['unfused_gflops']:.1f}", f"{r['fused_gflops']:.1f}",
                     f"{100 * r['fused_mfu_fma']:.1f}%" if "fused_mfu_fma" in r else ""])
    body = table(["config", "mode", "unfused ms/step", "fused ms/step", "speedup", "95% interval",
                  "unfused GFLOP/s", "fused GFLOP/s", "fused MFU of FMA peak"],
                 ["---", "---", "---:", "---:", "---:", "---", "---:", "---:", "---:"], rows)
    note = (f"ms/step: each side's fastest step over {d['meta']['rounds']} rounds; in every round the unfused and the "
            "fused model run in turns (unfused, fused, unfused, fused). *speedup*: the median over the rounds of "
            "unfused ms / fused ms (each side's best of the round), with its 95% interval. *train*: forward, backward, "
            "clip and Adam; *infer*: the evaluation forward. GFLOP/s from the ops' analytic FLOPs (the same for both "
            "paths).\n")
    return body + "\n" + note + render_roofline(d.get("roofline", [])) + source(d["meta"], "fused/fused.json"), {}


def render_roofline(runs):
    """The roofline table of bench/fused.sh's profiled steps (tools/results/roofline.py)."""
    if not runs:
        return ""
    rows = []
    for r in runs:
        for p in r["parts"]:
            rows.append([os.path.basename(r["config"]).removesuffix(".json"), r["path"], p["part"], f"{p['ms']:.2f}",
                         f"{p['gflop']:.3f}", f"{p['mb']:.1f}", f"{p['intensity']:.1f}", f"{p['gflops']:.1f}",
                         f"{p['roof_ms']:.2f}", f"{100 * p['share_of_roof']:.0f}%", p["bound"]])
    body = table(["config", "path", "part", "ms", "GFLOP", "MB moved", "FLOP/byte", "GFLOP/s", "least ms",
                  "share of roof", "limit"], ["---", "---", "---"] + ["---:"] * 7 + ["---"], rows)
    ceilings = "; ".join(f"{os.path.basename(r['config']).removesuffix('.json')} {r['path']}: FMA peak "
                         f"{r['fma_peak_gflops']:.0f} GFLOP/s, bandwidth {r['bandwidth_gbs']:.1f} GB/s" for r in runs)
    note = ("\n**Roofline** of one profiled training step per path (each op at its fastest of the profiled steps; "
            "the parts' times sum the ops', so they leave out the time between ops). *MB moved* and *GFLOP*: "
            "the ops' analytic counts, every input read and every output written once. A part takes at least "
            "max(GFLOP / FMA peak, MB / bandwidth) (*least ms*); *limit* says which term is larger, *share of roof* "
            "is least ms over ms. Above 100% means the part's data stayed in cache, so memory bandwidth did not "
            "limit it. The ceilings, measured in the same run (bandwidth: a STREAM-style triad on all threads): "
            f"{ceilings}.\n\n")
    return "\n" + body + note


def render_spatten(data):
    d = data.get("spatten/spatten.json")
    if d is None:
        return missing("spatten", "SpAtten against static methods", False), {}
    rows = []
    for r in d["rows"]:
        ratio = lambda k: (f"{r[k]['median']:.2f}x ({r[k]['lo']:.2f}-{r[k]['hi']:.2f}; ideal {r[k]['ideal']:.2f}x)")
        rows.append([f"{r['heads']} ({100 * r['fraction']:.0f}%)", r["static_method"],
                     " ".join(map(str, r["static_heads_per_layer"])), " ".join(map(str, r["spatten_heads_per_layer"])),
                     f"{bits(r['loss']['dense']):.3f}", f"{bits(r['loss']['static']):.3f}",
                     f"{bits(r['loss']['spatten']):.3f}", ratio("dense_over_static"), ratio("dense_over_spatten"),
                     ratio("static_over_spatten")])
    body = table(["heads kept", "static method", "static heads per layer", "SpAtten heads per layer (one stream)",
                  "dense bits/byte", "static", "SpAtten", "dense / static time", "dense / SpAtten time",
                  "static / SpAtten time"], ["---:", "---", "---", "---", "---:", "---:", "---:", "---", "---", "---"],
                 rows)
    note = ("Neither the static model nor SpAtten is retrained. Loss: the first validation segments of every stream "
            "(one dense model, seed 1). Times: forward passes at batch 1 of the dense model, the static model "
            "(compacted) and SpAtten, in turns; each ratio the median of the paired ratios with its 95% interval, "
            "*ideal* from the FLOPs. SpAtten's heads per layer vary by stream; the column shows the first stream's.\n")
    return body + "\n" + note + source(d["meta"], "spatten/spatten.json"), {}


def render_costs(data):
    d = data.get("costs/costs.json")
    if d is None:
        return missing("costs", "the cost model's validation on 50 random pruned configurations", False), {}
    rows, lines, series = [], [], []
    mode_name = {"train": "training step", "infer": "inference forward"}
    numbers = {"per-layer": lambda f: 1 + 2 * f["layers"], "per-count": lambda f: 1 + f["counts"],
               "shared": lambda f: 3, "heads-only": lambda f: 2}
    for r in d["rows"]:
        for f in r["forms"]:
            chosen = " (chosen)" if f["form"] == r["chosen"] else ""
            rows.append([r["batch"], mode_name[r["mode"]], f["form"] + chosen, numbers[f["form"]](f),
                         f"{100 * f['within5']:.0f}%", f"{100 * f['within10']:.0f}%", f"{100 * f['worst']:.1f}%",
                         f"{100 * f['within_spread']:.0f}%"])
        rep, best = r["repeatability"], next(f for f in r["forms"] if f["form"] == r["chosen"])
        verdict = "meets" if best["within10"] >= 0.95 else ("meets within the spread" if best["within_spread"] >= 0.95
                                                             else "misses")
        lines.append(f"- Batch {r['batch']}, {mode_name[r['mode']]}: {rep['configurations']} configurations; two "
                     f"measurements of one configuration differ by {100 * rep['spread_median']:.1f}% (median), "
                     f"{100 * rep['spread_p95']:.1f}% (95th percentile); the {r['chosen']} form {verdict} the aim of 95% "
                     "within +-10%.\n")
        pts = [(c["measured_s"] * 1e3, c["predicted_s"][r["chosen"]] * 1e3, None, None) for c in r["configurations"]]
        series.append({"name": f"B={r['batch']} {mode_name[r['mode']]}", "points": pts, "dots": True})
    cal = d["rows"][0]["calibration"]
    hi = max(max(p[0], p[1]) for s in series for p in s["points"])
    for k, name in ((1.0, "predicted = measured"), (0.9, "-10%"), (1.1, "+10%")):
        series.append({"name": name, "points": [(0, 0, None, None), (hi / max(k, 1), hi / max(k, 1) * k, None, None)],
                       "dashed": k != 1.0, "line": True})
    body = table(["batch", "mode", "form", "numbers", "within +-5%", "within +-10%", "worst error",
                  "within +-10% or the spread"], ["---:", "---", "---", "---:", "---:", "---:", "---:", "---:"], rows)
    spent = {r["batch"]: r["calibration"]["seconds"] for r in d["rows"]}
    note = (f"\nCalibration: {cal['configurations']} configurations per batch (each layer emptied and at one head; "
            f"every layer at k heads, k = 0..H; as many random mixed ones), "
            + ", ".join(f"{s:.0f} s of timing at batch {b}" for b, s in sorted(spent.items())) + ". *The spread*: how far apart two measurements of the same configuration in the "
            "same run are; a prediction is not judged finer than that.\n\n" + "".join(lines))
    img = "docs/img/profiling-validate.svg"
    plot = svg.line_plot("predicted against measured time, 50 random pruned models", "measured ms", "predicted ms",
                         series)
    return (body + note + "\n![predicted against measured time](img/profiling-validate.svg)\n\n"
            + source(d["meta"], "costs/costs.json")), {img: plot}


def render_fused_step(data):
    d = data.get("fused_step/fused_step.json")
    if d is None:
        return missing("fused_step", "the whole training step, fused against unfused, in 40 alternating pairs",
                       False), {}
    rows = d["rows"]
    pairs = sorted({r["pair"] for r in rows})
    ms = {(r["pair"], r["fused"]): r["ms_per_step"] for r in rows}
    ratios = sorted(ms[(p, False)] / ms[(p, True)] for p in pairs)
    m = median_interval(ratios)
    n = len(ratios)
    unfused, fused = min(ms[(p, False)] for p in pairs), min(ms[(p, True)] for p in pairs)
    config = re.sub(r"^configs/|\.json$", "", d["meta"]["command"].split()[1])
    body = table(["config", "pairs", "median unfused / fused (95% interval)", "quartiles", "pairs at 1.3x or more",
                  "fastest unfused ms", "fastest fused ms", "their ratio"], ["---", "---:", "---:", "---:", "---:",
                                                                               "---:", "---:", "---:"],
                 [[config, n, f"{m['median']:.3f} ({m['lo']:.3f}-{m['hi']:.3f})",
                   f"{ratios[n // 4]:.3f}-{ratios[(3 * n) // 4]:.3f}", sum(r >= 1.3 for r in ratios),
                   f"{unfused:.2f}", f"{fused:.2f}", f"{unfused / fused:.2f}x"]])
    note = (f"\nThe training step (forward, backward, clip, Adam) at batch {rows[0]['batch']} on "
            f"{threads(rows[0]['threads'])}: in each pair one run with fused_attention off, then one with it on, "
            "each run reporting its fastest step; the ratio is taken within each pair, so the VM's drift from pair "
            "to pair cancels, and its drift within a pair does not.\n\n")
    return body + note + source(d["meta"], "fused_step/fused_step.json"), {}


def render_timebudget(data):
    d = data.get("timebudget/timebudget.json")
    if d is None:
        return missing("timebudget", "four time-budget prunes against their budgets", False), {}
    rows = []
    for f in sorted({r["fraction"] for r in d["rows"]}, reverse=True):
        dense = next(r for r in d["rows"] if r["fraction"] == f and r["model"] == "dense")
        pruned = next(r for r in d["rows"] if r["fraction"] == f and r["model"] == "pruned")
        # The share of the dense time, measured: the median paired ratio (1 / speedup).
        share, lo, hi = 1 / pruned["speedup"], 1 / pruned["speedup_hi"], 1 / pruned["speedup_lo"]
        off = share / f - 1
        budget = f * dense["predicted_ms"]
        predicted = pruned["predicted_ms"] / dense["predicted_ms"]
        fit = pruned["largest_fit_ms"] / dense["predicted_ms"]
        rows.append([f"{100 * f:.0f}%", pruned["heads"], f"{predicted:.3f} ({100 * (predicted / f - 1):+.1f}%)",
                     f"{fit:.3f} ({100 * (fit / f - 1):+.1f}%)", f"{share:.3f} ({lo:.3f}-{hi:.3f})",
                     f"{100 * off:+.1f}%" + (" (within 10%)" if abs(off) <= 0.10 else ""),
                     f"{budget:.3f}", f"{pruned['predicted_ms']:.3f}", f"{pruned['ms']:.3f}",
                     f"{100 * (pruned['ms'] / budget - 1):+.1f}%", f"{dense['ms']:.3f} / {dense['predicted_ms']:.3f}"])
    body = table(["budget (share of the dense time)", "heads kept", "predicted share (against the budget)",
                  "largest predicted share of any shape within the budget", "measured share (95% interval)",
                  "measured share against the budget", "budget ms", "predicted ms", "measured ms",
                  "measured ms against budget ms", "dense ms measured / predicted"], ["---:"] * 11, rows)
    note = (f"\nThe inference forward of one segment at batch {d['rows'][0]['batch']}. *Measured share*: the pruned "
            "model's time over the dense model's, the median of `headcount bench`'s paired passes (dense and pruned "
            "in turns) with its 95% interval; that is how the prune landed, and the headline column. *Predicted share*: "
            "the cost model's time of the kept heads over its dense time; the readout keeps heads only while they "
            "fit the budget, so it lands below by up to what the next head (or the next layer opened) would cost, "
            "and a prediction below the budget by more than 10% comes from that rule, not from the cost model's "
            "error. *Largest predicted share of any shape*: the most any choice of whole heads per layer could use of the "
            "budget under the same cost model, whatever its heads (`largest_fit_ms` in the prune's choose.json, "
            "models/time_budget.h); where it too is more than 10% under, no readout could land within 10% without "
            "going over. "
            "*Predicted*: the "
            "profile's cost model (app/profile_timing.h: ratios to the whole model times its fastest run). The ms "
            "columns compare times measured minutes apart on a VM whose speed drifts for seconds at a time: the "
            "cost model's ms came from the profile run, the measured ms from the bench run.\n\n")
    return body + note + source(d["meta"], "timebudget/timebudget.json"), {}


def render_bench(data):
    d = data.get("bench/bench.json")
    if d is None:
        return missing("bench", "dense against pruned forward passes"), {}
    rows, notes = [], []
    dense = {r["batch"]: r for r in d["rows"] if r["model"] == "dense"}
    for r in d["rows"]:
        if r["model"] == "dense":
            continue
        flag = " (above ideal)" if r["above_ideal"] else ""
        rows.append([f"{r['heads']} of {dense[r['batch']]['heads']}", r["batch"], f"{dense[r['batch']]['ms']:.3f}",
                     f"{r['ms']:.3f}", f"{r['speedup']:.2f}x{flag}",
                     interval(r["speedup_lo"], r["speedup_hi"], r["interval_coverage"], r["pairs"]),
                     f"{r['ideal']:.2f}x", f"{100 * r['speedup'] / r['ideal']:.0f}%"])
        if r["above_ideal"]:
            e = r["explain"]
            faster = [p for p in e["parts"] if p["pruned_ms"] > 0 and p["pruned_flops"] > 0 and
                      p["dense_ms"] / p["pruned_ms"] > p["dense_flops"] / p["pruned_flops"] * 1.05]
            gone = [p["part"] for p in e["parts"] if p["dense_flops"] > 0 and p["pruned_flops"] == 0]
            parts = ", ".join(f"{p['part']} (time {p['dense_ms'] / p['pruned_ms']:.2f}x, FLOPs "
                              f"{p['dense_flops'] / p['pruned_flops']:.2f}x)" for p in faster[:4])
            notes.append(f"- {r['heads']} heads at batch {r['batch']}: the whole interval is above the FLOP-ideal. "
                         f"Profiled, the heads removed {100 * e['flops_removed']:.0f}% of the FLOPs but "
                         f"{100 * e['time_removed']:.0f}% of the time: the parts that shrink with heads ran at "
                         f"{e['shrinking_parts_gflops']:.1f} GFLOP/s in the dense model, the parts that do not at "
                         f"{e['fixed_parts_gflops']:.1f}."
                         + (f" Parts whose time shrank more than their FLOPs: {parts}." if parts else "")
                         + (f" Removed entirely: {', '.join(gone)}." if gone else ""))
    body = table(["kept heads", "batch", "dense ms/segment", "pruned ms/segment", "speedup", "95% interval", "ideal",
                  "speedup / ideal"], ["---:"] * 5 + ["---"] + ["---:"] * 2, rows)
    pairs = d["rows"][1]["pairs"] if len(d["rows"]) > 1 else 0
    note = (f"Evaluation forward of one segment; the dense and the pruned model in turns, pass by pass, {pairs} pairs "
            "after warm-up; *speedup*: the median of the paired ratios with its 95% interval; *ideal*: dense FLOPs / "
            "pruned FLOPs from the ops' analytic counts.\n")
    return body + "\n" + note + ("\n".join(notes) + "\n" if notes else "") + source(d["meta"], "bench/bench.json"), {}


def render_demo(data):
    d = data.get("demo/demo.json")
    if d is None:
        return missing("demo", "the demo's numbers"), {}
    rows = d["rows"]
    models = {m: [r for r in rows if r["kind"] == "model" and r["model"] == m] for m in ("dense", "pruned")}
    seeds = sorted({r["seed"] for r in rows})
    out = [f"Seeds: {', '.join(map(str, seeds))} (mean, and the range over seeds where there are several).\n"]
    summary = []
    for label, key, fmt in (("heads", "heads", "count"), ("parameters (no embedding)", "parameters", "count"),
                            ("forward GFLOP per segment (B=1)", "gflop_per_segment", "{:.4f}"),
                            ("valid bits per byte", "valid_bits", "{:.4f}")):
        a, b = [r[key] for r in models["dense"]], [r[key] for r in models["pruned"]]
        summary.append([label, mean_range(a, fmt), mean_range(b, fmt), f"{sum(b) / sum(a):.3f}"])
    test = [r["test_bits"] for r in models["dense"]]
    summary.append(["test bits per byte", mean_range(test, "{:.4f}"), "", ""])
    for r in rows:
        if r["kind"] == "speed":
            summary.append([f"evaluation speedup, batch {r['batch']} (seed {r['seed']})", "", "",
                            f"{r['speedup']:.2f}x ({interval(r['speedup_lo'], r['speedup_hi'], r['interval_coverage'], r['pairs'])}; ideal {r['ideal']:.2f}x)"])
    out.append(table(["", "dense", "pruned", "pruned / dense"], ["---", "---:", "---:", "---:"], summary))
    for r in rows:
        if r["kind"] == "pruning":
            out.append(f"\nSeed {r['seed']}: heads per layer after pruning {', '.join(map(str, r['heads_per_layer']))}; "
                       "the deterministic head count over the pruning run: "
                       + ", ".join(f"{k} (step {s})" for s, k in count_changes(r["steps"], r["kept_heads"])) + ".\n")
    curve = [r for r in rows if r["kind"] == "curve"]
    steps = sorted({r["step"] for r in curve})
    series, crow = [], []
    for step in steps:
        at = [r for r in curve if r["step"] == step]
        crow.append([step, mean_range([r["train_loss"] for r in at]), mean_range([r["valid_loss"] for r in at]),
                     mean_range([bits(r["valid_loss"]) for r in at])])
    out.append("\nThe dense run's learning curve (whole validation split, memory carried):\n\n")
    out.append(table(["step", "train loss (nats)", "valid loss (nats)", "valid bits per byte"], ["---:"] * 4, crow))
    points = []
    for step in steps:
        v = [bits(r["valid_loss"]) for r in curve if r["step"] == step]
        points.append((step, sum(v) / len(v), min(v) if len(v) > 1 else None, max(v) if len(v) > 1 else None))
    series.append({"name": "valid", "points": points})
    img = "docs/img/results-demo-curve.svg"
    out.append("\n![valid bits per byte against training step](img/results-demo-curve.svg)\n\n")
    out.append(source(d["meta"], "demo/demo.json"))
    plot = svg.line_plot("the demo's dense model: validation over training", "training step", "valid bits per byte", series,
                         integer_x=True)
    return "".join(out), {img: plot}


def count_changes(steps, kept):
    """(step, count) where the head count changed, and the first and last."""
    out = []
    for i, (s, k) in enumerate(zip(steps, kept)):
        if i == 0 or i == len(kept) - 1 or k != kept[i - 1]:
            out.append((s, k))
    return out


def render_prune(data, name, unit):
    return render_runs(data, "prune", f"{name}.json", unit, f"`docs/data/prune/{name}.json`")


def render_runs(data, stage, name, unit, what, history=True):
    """The table of one bench/prune_experiments.sh experiment (data/STAGE/NAME): a row per run
    name, the mean and range over its seeds. Columns for the budget's landing (the open count
    just before the readout, how far the expected count strayed from its target) appear where
    the runs logged them."""
    d = data.get(f"{stage}/{name}")
    if d is None:
        return missing(stage, what, history), {}
    runs = []
    for r in d["rows"]:
        if r["run"] not in runs:
            runs.append(r["run"])
    extra = [(key, label) for key, label in (("open_before_readout", "open before readout"),
                                             ("max_stray", "largest stray of expected count"))
             if any(key in r for r in d["rows"])]
    rows = []
    for run in runs:
        rs = [r for r in d["rows"] if r["run"] == run]
        per_layer = "; ".join(" ".join(map(str, r["heads_per_layer"])) for r in rs if "heads_per_layer" in r)
        speed = [r["speedup"] for r in rs]
        rows.append([run, ", ".join(str(r["seed"]) for r in rs), mean_range([r["heads"] for r in rs], "count"),
                     per_layer, mean_range([r["parameters"] for r in rs], "count"),
                     mean_range([r["valid_bits"] for r in rs], "{:.3f}"),
                     mean_range(speed, "{:.2f}") + "x", f"{rs[0]['ideal']:.2f}x",
                     mean_range([r["min_kept"] for r in rs], "count") if "min_kept" in rs[0] else "",
                     mean_range([r["increases"] for r in rs], "count") if "increases" in rs[0] else ""]
                    + [mean_range([r[key] for r in rs], "{:.1f}") if key in rs[0] else "" for key, _ in extra])
    body = table(["run", "seeds", "heads", "heads per layer (each seed)", "parameters (no emb.)",
                  f"valid bits per {unit}", "speedup (B=4)", "ideal", "min kept during run", "increases of kept count"]
                 + [label for _, label in extra],
                 ["---", "---", "---:", "---", "---:", "---:", "---:", "---:", "---:", "---:"] + ["---:"] * len(extra),
                 rows)
    note = ("Mean over seeds, (min-max) where there are several. *speedup*: `headcount bench` at batch 4, each "
            "seed's median paired ratio (its 95% interval is in the data file); *ideal*: dense FLOPs / pruned FLOPs.\n")
    return body + "\n" + note + source(d["meta"], f"{stage}/{name}"), {}


def render_compare(data):
    return render_grid(data, "compare", "the pruning methods compared")


def render_grid(data, stage, what, history=True, name=None, unit="byte"):
    """The table and the two plots of a `headcount compare` grid stored as data/STAGE/NAME.json
    (NAME: the stage's name unless given)."""
    name = name or stage
    path, plot = f"{stage}/{name}.json", stage if name == stage else f"{stage}-{name}"
    d = data.get(path)
    if d is None:
        return missing(stage, what, history), {}
    rows = d["rows"]
    names = FAMILIES
    methods = []  # in the order compare ran them (the registry's order)
    for r in rows:
        if r["method"] != "dense" and r["method"] not in methods:
            methods.append(r["method"])
    seeds = sorted({r["seed"] for r in rows})
    cells, by_key = [], {}
    for r in rows:
        by_key.setdefault((r["model"], r["method"], r["budget"]), []).append(r)
    models = []
    for r in rows:
        if r["model"] not in models:
            models.append(r["model"])
    for model in models:
        dense = by_key[(model, "dense", 1.0)]
        cells.append([f"{names.get(model, model)}, dense", mean_range([r["heads"] for r in dense], "count"),
                      mean_range([r["parameters"] for r in dense], "count"),
                      mean_range([bits(r["valid_loss"]) for r in dense])] + [""] * len(methods))
        for budget in sorted({r["budget"] for r in rows if r["model"] == model and r["method"] != "dense"},
                             reverse=True):
            at = [r for m in methods for r in by_key.get((model, m, budget), [])]
            cells.append([f"{names.get(model, model)}, keep {budget:.2f}", mean_range([r["heads"] for r in at], "count"),
                          mean_range([r["parameters"] for r in at], "count"), ""]
                         + [mean_range([bits(r["valid_loss"]) for r in by_key.get((model, m, budget), [])])
                            if (model, m, budget) in by_key else "" for m in methods])
    body = table(["model, budget", "heads", "parameters (no emb.)", "dense"] + methods,
                 ["---", "---:", "---:", "---:"] + ["---:"] * len(methods), cells)
    note = (f"Valid bits per {unit} of the compacted models; seeds {', '.join(map(str, seeds))} (the seed of each "
            "pruning run): the mean, and (min-max) over seeds. The dense rows are the models every method started "
            "from.\n")
    images = {}
    for key, x_of, x_label, title, image in (
            ("params", lambda r: r["parameters"] / 1000, "non-embedding parameters (thousands)",
             f"valid bits per {unit} against parameters", f"results-{plot}-params.svg"),
            ("time", lambda r: 1e6 / r["tok_s"], "evaluation time (ms per 1000 tokens)",
             f"valid bits per {unit} against evaluation time", f"results-{plot}-time.svg")):
        series = []
        for model in models:
            for m in methods:
                pts = []
                for budget in sorted({b for (mo, me, b) in by_key if mo == model and me == m}):
                    rs = by_key[(model, m, budget)]
                    ys = [bits(r["valid_loss"]) for r in rs]
                    xs = [x_of(r) for r in rs]
                    pts.append((sum(xs) / len(xs), sum(ys) / len(ys), min(ys) if len(ys) > 1 else None,
                                max(ys) if len(ys) > 1 else None))
                dense = by_key[(model, "dense", 1.0)]
                ys = [bits(r["valid_loss"]) for r in dense]
                xs = [x_of(r) for r in dense]
                pts.append((sum(xs) / len(xs), sum(ys) / len(ys), min(ys) if len(ys) > 1 else None,
                            max(ys) if len(ys) > 1 else None))
                series.append({"name": f"{model} {m}", "points": pts, "dashed": model != models[0]})
        images["docs/img/" + image] = svg.line_plot(title, x_label, f"valid bits per {unit}", series)
    plots = (f"\n![valid bits per {unit} against non-embedding parameters](img/results-{plot}-params.svg)\n"
             f"![valid bits per {unit} against evaluation time](img/results-{plot}-time.svg)\n\n"
             "Error bars: the range over seeds. Evaluation time: every model of the grid timed together at the end "
             "of the run (three rounds over all models in turn, each keeping its fastest), forward passes at the "
             "training batch.\n")
    return body + "\n" + note + plots + source(d["meta"], path), images


def render_methods(data):
    """docs/pruning.md's summary of the bake-off: per method, its loss at each budget, the
    budgets where it beat every other method with separate ranges, and its cost of choosing."""
    d = data.get("compare/compare.json")
    if d is None:
        return missing("compare", "the bake-off this table summarises", False), {}
    rows = [r for r in d["rows"] if r["method"] != "dense"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    budgets = sorted({r["budget"] for r in rows}, reverse=True)
    loss = {(m, b): [bits(r["valid_loss"]) for r in rows if r["method"] == m and r["budget"] == b]
            for m in methods for b in budgets}
    def best_at(m):
        won = [b for b in budgets if loss[(m, b)] and
               all(max(loss[(m, b)]) < min(loss[(o, b)]) for o in methods if o != m and loss[(o, b)])]
        return ", ".join(f"{100 * b:.0f}%" for b in won) or "nowhere alone"
    cells = []
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        cells.append([f"`{m}`"] + [mean_range(loss[(m, b)]) if loss[(m, b)] else "" for b in budgets]
                     + [best_at(m)] + [f"{sum(r[k] for r in mine) / len(mine):.1f}" if all(k in r for r in mine) else ""
                                       for k in ("choose_s", "select_s")])
    body = table(["method"] + [f"bits/byte, keep {100 * b:.0f}%" for b in budgets] +
                 ["best (ranges separate)", "choose_s", "select_s"],
                 ["---"] + ["---:"] * len(budgets) + ["---", "---:", "---:"], cells)
    return body + "\n" + source(d["meta"], "compare/compare.json"), {}


def verdict(a, b, name_a, name_b):
    """Which of two sets of per-seed losses is lower, said only where their ranges separate."""
    if max(a) < min(b):
        return f"{name_a} lower by {min(b) - max(a):.3f} or more"
    if max(b) < min(a):
        return f"{name_b} lower by {min(a) - max(b):.3f} or more"
    return "ranges overlap: neither"


def loss_at(points, p):
    """The loss of a curve [(parameters, loss)] sorted by parameters at p, linear between its
    two neighbouring points; None outside the curve."""
    for (p0, l0), (p1, l1) in zip(points, points[1:]):
        if p0 <= p <= p1:
            return l0 if p1 == p0 else l0 + (l1 - l0) * (p - p0) / (p1 - p0)
    return None


def equal_parameters(rows):
    """The paper's question: each family's measured points (a budget, mean parameters over the
    seeds) against the other family's curve at the same non-embedding parameter count, seed by
    seed (pruning seed i of each family starts from its dense seed i), where that curve reaches."""
    seeds = sorted({r["seed"] for r in rows})
    curve = {(m, s): sorted((r["parameters"], r["valid_loss"]) for r in rows if r["model"] == m and r["seed"] == s)
             for m in FAMILIES for s in seeds}
    cells = []
    for model, other in (("allatt", "txl"), ("txl", "allatt")):
        for budget in sorted({r["budget"] for r in rows if r["model"] == model}, reverse=True):
            points = [r for r in rows if r["model"] == model and r["budget"] == budget]
            p = sum(r["parameters"] for r in points) / len(points)
            there = [loss_at(curve[(other, s)], p) for s in seeds]
            if None in there:
                continue
            here = {model: [bits(r["valid_loss"]) for r in points], other: [bits(v) for v in there]}
            kept = f"{points[0]['heads']} heads" if points[0]["method"] != "dense" else f"dense ({points[0]['heads']} heads)"
            cells.append([f"{p:,.0f}", f"{FAMILIES[model]}, {kept}", mean_range(here["allatt"]),
                          mean_range(here["txl"]), verdict(here["allatt"], here["txl"], *FAMILIES.values())])
    cells.sort(key=lambda c: float(c[0].replace(",", "")))
    return table(["parameters (no emb.)", "measured point", "All-attention bits per byte",
                  "Transformer-XL bits per byte", "verdict"], ["---:", "---", "---:", "---:", "---"], cells)


def render_pair(data):
    """All-attention against its parameter-matched Transformer-XL: the grid, the verdict at equal
    parameters and at equal head counts, and how converged each dense run was."""
    grid, images = render_grid(data, "pair", "the parameter-matched pair pruned by L0", history=False)
    d, dense = data.get("pair/pair.json"), data.get("pair/dense.json")
    if d is None or dense is None:
        return grid, images
    rows = d["rows"]
    cells = []
    for budget in sorted({r["budget"] for r in rows}, reverse=True):
        a = [bits(r["valid_loss"]) for r in rows if r["model"] == "allatt" and r["budget"] == budget]
        t = [bits(r["valid_loss"]) for r in rows if r["model"] == "txl" and r["budget"] == budget]
        if a and t:
            cells.append([f"{budget:.2f}", mean_range(a), mean_range(t), verdict(a, t, *FAMILIES.values())])
    heads = table(["heads kept", "All-attention bits per byte", "Transformer-XL bits per byte", "verdict"],
                  ["---:", "---:", "---:", "---"], cells)
    def gain(before, after):  # the share validation loss improved from `before` to `after`, in percent
        return 100 * (before - after) / before
    # Three decimals and the verdict from the unrounded share: 0.503% must not read as 0.50%.
    conv = []
    for r in dense["rows"]:
        last, smoothed = gain(r["valid_loss_at_80"], r["valid_loss_final"]), r["smoothed"]
        conv.append([FAMILIES[r["family"]], r["seed"], f"{r['steps']:,}",
                     f"{bits(r['valid_loss_at_80']):.4f}", f"{bits(r['valid_loss_final']):.4f}",
                     f"{last:.3f}%", "yes" if last < 0.5 else "no",
                     f"{gain(smoothed['80'], smoothed['100']):.3f}%", f"{gain(smoothed['64'], smoothed['80']):.3f}%"])
    converged = table(["dense model", "seed", "steps", "valid bits at 80% of steps", "at the end",
                       "improvement over the last 20%", "under 0.5%", "smoothed: the last 20%",
                       "smoothed: the 20% before"],
                      ["---", "---:", "---:", "---:", "---:", "---:", "---", "---:", "---:"], conv)
    return (grid + "\n**The answer at equal parameters** (the paper's question): each measured point of one "
            "family against the other family's curve at the same parameter count, read off that curve linearly "
            "between its two neighbouring points (dense included), seed by seed; points beyond the other curve's "
            "reach are left out. Mean and range over the seeds; a side wins only where the ranges do not "
            "overlap:\n\n" + equal_parameters(rows)
            + "\n**At equal head counts** (not the paper's question: the Transformer-XL model keeps its whole "
            "feed-forward block whichever heads it loses):\n\n" + heads
            + "\n**How converged the dense models were** (the schedule counts as long enough where the last 20% "
            "of the steps improved validation loss by under 0.5%; *smoothed*: the same share between the means "
            "of the evaluations within 2.5% of the steps of 80% and of the end, and of 64% and 80%, the window "
            "before it, of the same proportions; the mean at the end has only the last 2.5% to average):\n\n" + converged
            + "\n" + source(dense["meta"], "pair/dense.json")), images


def gpu_label(meta):
    return f"{meta['run']}, commit `{meta['commit'][:7]}`, {meta['date']}"


def render_gpu_train_step(data):
    r1, r3 = data.get("gpu/h200-run1.json"), data.get("gpu/h200-run3.json")
    if r1 is None or r3 is None:
        return missing("gpu", "the H200 runs' data files"), {}
    def ceilings(d):  # math -> the run's cuBLAS TFLOP/s
        return {r["math"]: r["cublas_tflops"] for r in d["rows"] if r["kind"] == "ceiling"}
    ms = lambda v: f"{v:.1f}" if v is not None else "not recorded"
    c1, c3 = ceilings(r1), ceilings(r3)
    rows1 = []
    for r in (x for x in r1["rows"] if x["kind"] == "train_step"):
        rows1.append([r["batch"], r["math"], ms(r["engine_ms"]), ms(r["eager_ms"]),
                      ms(r["compile_ms"]) if r["compile_ms"] is not None else r.get("note", "not recorded"),
                      f"{r['eager_ms'] / r['engine_ms']:.2f}x" if r["eager_ms"] else "",
                      f"{r['compile_ms'] / r['engine_ms']:.2f}x" if r["compile_ms"] else ""])
    rows3 = []
    for r in (x for x in r3["rows"] if x["kind"] == "train_step"):
        rows3.append([r["batch"], r["math"], ms(r["engine_ms"]), f"{r['engine_tflops']:.1f}",
                      f"{100 * r['engine_tflops'] / c3[r['math']]:.1f}%", ms(r["eager_ms"]),
                      f"{r['eager_ms'] / r['engine_ms']:.2f}x"])
    out = [f"**{gpu_label(r1['meta'])}** (the code before the fixes below; cuBLAS through PyTorch, 8192^3: fp32 "
           f"{c1['fp32']:.1f}, TF32 {c1['tf32']:.1f} TFLOP/s). {r1['meta']['train_step']}. The engine ran LAMB, the "
           "peer Adam. *vs*: the peer's time over the engine's, both from this run:\n\n",
           table(["batch", "math", "engine ms", "eager ms", "torch.compile ms", "engine vs eager",
                  "engine vs compile"], ["---:", "---", "---:", "---:", "---:", "---:", "---:"], rows1),
           f"\n**{gpu_label(r3['meta'])}** (the fixes; cuBLAS fp32 {c3['fp32']:.1f}, TF32 {c3['tf32']:.1f} TFLOP/s; "
           "torch.compile was not measured in this run). The same step; *of cuBLAS*: the engine's TFLOP/s over this "
           "run's cuBLAS rate for the same math:\n\n",
           table(["batch", "math", "engine ms", "engine TFLOP/s", "of cuBLAS", "eager ms", "engine vs eager"],
                 ["---:", "---", "---:", "---:", "---:", "---:", "---:"], rows3),
           f"\n_Data: `docs/data/gpu/h200-run1.json`, `docs/data/gpu/h200-run3.json`; peer: {r3['meta']['peer']['what']}, "
           f"PyTorch {r3['meta']['peer']['torch']}. {r3['meta']['imported']}_\n"]
    return "".join(out), {}


def render_gpu_profile(data):
    r2, r3 = data.get("gpu/h200-run2.json"), data.get("gpu/h200-run3.json")
    if r2 is None or r3 is None:
        return missing("gpu", "the H200 runs' data files"), {}
    before = {r["op"]: r["ms"] for r in r2["rows"] if r["kind"] == "op"}
    s2 = next(r for r in r2["rows"] if r["kind"] == "step")
    s3 = next(r for r in r3["rows"] if r["kind"] == "step")
    rows = [[r["op"], f"{before[r['op']]:g}", f"{r['ms']:g}", r["note"]] for r in r3["rows"] if r["kind"] == "op"]
    head = (f"A batch-16 fp32 step of wt103-all-16l by op (CUDA events, `bench_train_step --profile`). "
            f"{r2['meta']['run']} (commit `{r2['meta']['commit'][:7]}`): {s2['step_ms']:g} ms per step, "
            f"{s2['inside_ops_ms']:g} inside the ops. {r3['meta']['run']} (commit `{r3['meta']['commit'][:7]}`): "
            f"{s3['step_ms']:g} ms, {s3['inside_ops_ms']:g} inside the ops. Two runs on two commits, side by side, "
            "not divided:\n\n")
    return head + table(["op", f"{r2['meta']['run']}, ms", f"{r3['meta']['run']}, ms", "note (run 3)"],
                        ["---", "---:", "---:", "---"], rows) + \
        "\n_Data: `docs/data/gpu/h200-run2.json`, `docs/data/gpu/h200-run3.json` (imported, as recorded)._\n", {}


def render_gpu_bench(data):
    r3 = data.get("gpu/h200-run3.json")
    if r3 is None:
        return missing("gpu", "the H200 runs' data files"), {}
    cells = {}
    for r in r3["rows"]:
        if r["kind"] == "bench":
            cells.setdefault((r["model"], r["batch"], r["dense_ms"]), {})[r["keep"]] = r
    rows = []
    for (model, batch, dense_ms), keep in cells.items():
        rows.append([model, batch, f"{dense_ms:.3f}"] +
                    [f"{keep[k]['speedup']:.2f}x / {keep[k]['ideal']:.2f}x ({100 * keep[k]['speedup'] / keep[k]['ideal']:.0f}%)"
                     for k in (0.75, 0.5)])
    return (f"**{gpu_label(r3['meta'])}**: {r3['meta']['bench']}.\n\n"
            + table(["model", "batch", "dense ms", "keep 0.75: speedup / ideal", "keep 0.5: speedup / ideal"],
                    ["---", "---:", "---:", "---", "---"], rows)
            + "\n_Data: `docs/data/gpu/h200-run3.json` (imported, as recorded)._\n"), {}


def render_readme_speed(data):
    t, r3, r1 = data.get("train_step/train_step.json"), data.get("gpu/h200-run3.json"), data.get("gpu/h200-run1.json")
    out = []
    if t is None:
        out.append("On the CPU: not measured by `make results` yet (`make results STAGES=train_step`).")
    else:
        m = t["meta"]
        parts = []
        for r in t["rows"]:
            parts.append(f"{r['engine_ms']:.1f} ms on {os.path.basename(r['config']).removesuffix('.json')} "
                         f"({100 * r['mfu_fma']:.1f}% of the FMA peak, {100 * r['mfu_sgemm']:.1f}% of the SGEMM rate; "
                         f"{r['speedup']:.2f}x as fast as PyTorch, 95% interval "
                         f"{interval(r['speedup_lo'], r['speedup_hi'], r['interval_coverage'], r['pairs'])})")
        out.append(f"On the CPU ({m['machine']['cpu']}, {threads(m['machine']['threads'])}; commit "
                   f"`{m['commit'][:7]}`, {m['date'][:10]}), a training step took " + "; ".join(parts)
                   + f". The FMA peak and the SGEMM rate are measured beside every step; the peer is PyTorch "
                   f"{m['peer']['torch']} eager (torch.compile needs PyTorch 2) on OpenBLAS's fastest kernel here.")
    if r3 is not None and r1 is not None:
        steps = [r for r in r3["rows"] if r["kind"] == "train_step"]
        lo = min(r["eager_ms"] / r["engine_ms"] for r in steps)
        hi = max(r["eager_ms"] / r["engine_ms"] for r in steps)
        out.append(f"On an NVIDIA H200 ({r3['meta']['run']}, commit `{r3['meta']['commit'][:7]}`, "
                   f"{r3['meta']['date']}), a training step of the paper's model ran {lo:.2f}-{hi:.2f}x faster than "
                   f"PyTorch {r3['meta']['peer']['torch']} eager; torch.compile was not timed in that run. That code is "
                   "from before the attention rewrite (f941fba) and has not been measured on a GPU since.")
    return "**Speed** (`make results`; docs/results.md has the tables). " + " ".join(out) + "\n", {}


RENDERERS = {
    "machine": render_machine,
    "linear": render_linear,
    "train_step": render_train_step,
    "bench": render_bench,
    "fused": render_fused,
    "fused_step": render_fused_step,
    "spatten": render_spatten,
    "costs": render_costs,
    "timebudget": render_timebudget,
    "demo": render_demo,
    "prune_moby": lambda data: render_prune(data, "moby-char-small", "byte"),
    "prune_sotu": lambda data: render_prune(data, "sotu-word-small", "word"),
    "compare": render_compare,
    "pair": render_pair,
    "methods": render_methods,
    "twins_txl": lambda data: render_grid(data, "twins", "the Transformer-XL twin's grid", False, "txl"),
    "twins_word": lambda data: render_grid(data, "twins", "the word-level model's grid", False, "word", "word"),
    "gpu_train_step": render_gpu_train_step,
    "gpu_profile": render_gpu_profile,
    "gpu_bench": render_gpu_bench,
    "readme_speed": render_readme_speed,
}


# The tables of the techniques and budget stages: block name -> (stage, data file, what it holds).
RUN_TABLES = {
    "techniques_sweep": ("techniques", "sweep.json", "the coefficient sweep"),
    "techniques": ("techniques", "ablations.json", "the techniques' ablations"),
    "budget_rates": ("budget", "rate-sweep.json", "the Lagrangian rate sweep"),
    "budget_target": ("budget", "target.json", "target mode at three budgets"),
    "budget_lagrangian": ("budget", "lagrangian.json", "the Lagrangian mode at three budgets"),
    "budget_finetune": ("budget", "target-finetune.json", "target mode with fine-tuning at the final shape"),
}
for _name, (_stage, _file, _what) in RUN_TABLES.items():
    RENDERERS[_name] = (lambda stage, file, what:
                        lambda data: render_runs(data, stage, file, "byte", what, history=False))(_stage, _file, _what)


def render_doc(text, data, images):
    """The doc with every generated block replaced; adds the blocks' plots to `images`."""
    def replace(m):
        name = m.group("name")
        if name not in RENDERERS:
            raise SystemExit(f"render.py: no renderer for generated block '{name}'")
        body, imgs = RENDERERS[name](data)
        images.update(imgs)
        return m.group(1) + body + m.group(4)
    return BLOCK.sub(replace, text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=ROOT)
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    data = Data(args.data or os.path.join(args.root, "docs", "data"))
    docs = [os.path.join(args.root, "README.md")] + sorted(glob.glob(os.path.join(args.root, "docs", "*.md")))
    outputs, images = {}, {}
    for path in docs:
        text = open(path).read()
        if "<!-- generated:" in text:
            outputs[os.path.relpath(path, args.root)] = render_doc(text, data, images)
    outputs.update(images)
    differ = []
    for rel, text in sorted(outputs.items()):
        target = os.path.join(args.out or args.root, rel)
        old = open(os.path.join(args.root, rel)).read() if os.path.exists(os.path.join(args.root, rel)) else ""
        if args.check:
            if old != text:
                differ.append(rel)
                sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                           f"{rel} (as committed)", f"{rel} (from the data)"))
            continue
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        if not os.path.exists(target) or open(target).read() != text:
            with open(target, "w") as f:
                f.write(text)
            print(f"render.py: wrote {os.path.relpath(target)}")
    if differ:
        print(f"\nrender.py --check: {', '.join(differ)} differ from the data under "
              f"{os.path.relpath(data.folder)}; run `python3 tools/results/render.py` (or `make results`) "
              "and commit the result", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
