// headcount: train, evaluate and sample from All-attention language models.
// One binary, one subcommand per step of the pipeline (docs/architecture.md).
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "app/commands.h"
#include "app/config.h"
#include "app/data_parallel.h"
#include "models/pruning_method.h"

namespace {

const char* kUsage = R"(usage: headcount COMMAND [options]

commands:
  train      train a model:            headcount train --config configs/moby-char-small.json
  eval       loss of a checkpoint:     headcount eval --from runs/x/best.safetensors [--split test]
  generate   sample a continuation:    headcount generate --from runs/x/best.safetensors --prompt "Call me"
  prune      learn which heads to keep: headcount prune --from runs/x/best.safetensors --config C
  compact    remove the closed heads:   headcount compact --from runs/p/last.safetensors --out small.safetensors
  heatmap    picture of a pruning run: headcount heatmap --metrics runs/p/metrics.jsonl --out gates.svg
  compare    the pruning bake-off: models x methods x budgets, one table and two plots
  profile    what every head costs: analytic, measured per part, marginal per head, predicted
  bench      does pruning buy speed: headcount bench --from runs/p/last.safetensors (dense vs pruned)
  report     one HTML page of a run:   headcount report runs/demo-pruned (writes runs/demo-pruned/report.html)

exit status: 0 success, 1 failure while running, 2 bad usage or input, 130 interrupted (checkpoint saved)
)";

const char* kTrainHelp = R"(usage: headcount train --config FILE [--set key=value ...] [--resume] [--device cpu|cuda] [--threads K]

Trains an All-attention language model. Writes into the config's out_dir:
metrics.jsonl (one JSON object per step: step, loss, lr, grad_norm, tok_s, and
valid_loss when measured, scored on every token of the split as `headcount
eval --help` describes; also rss_mib, live_tensors, held_mib and graph_nodes,
the memory counters the soak test watches), vocab.txt, checkpoints step-N.*, last.* (newest) and
best.* (lowest validation loss). Ctrl-C or SIGTERM writes a checkpoint and
stops; the same command with --resume continues bit for bit.

Data parallel: `mpirun -np R headcount train ...` trains on R processes, each
on batch/R of the batch streams (batch stays the global batch; R must divide
it), with gradients averaged after every backward; rank 0 logs and writes the
checkpoints, which resume on any number of ranks. docs/distributed.md.
)";

const char* kPruneHelp = R"(usage: headcount prune --from DENSE_CKPT --config FILE [--method M] [--set key=value ...] [--resume] [--stop-at N]
                      [--dump-gradients F]

Prunes the heads of a dense checkpoint: the weights are fine-tuned together
with one hard-concrete gate per head while a pruning method (--method M, the
config key prune_method) decides which heads stay, for `steps` steps; then
`finetune_steps` more steps (default 0) fine-tune the weights at the final
shape, the gates fixed. The vocabulary is the dense model's. metrics.jsonl
gains sparsity (sampled gates that were 0), kept_heads (the heads in use),
open_prob (per layer, per head) and the method's own numbers (below). Then
`headcount compact`. Learned gates start at gate_init and learn gate_lr_scale
times faster than the weights, without weight decay; output_scaling keeps each
layer's output scale as heads close.

Methods (a learned method chooses during the run; a scored method scores the
dense model once, keeps the best, then fine-tunes; a runtime method chooses
per sequence at inference, so prune refuses it (exit 2); "budget" marks the
methods that need target_heads, target_fraction or target_flops):
)";
const char* kCompactHelp = R"(usage: headcount compact --from GATED_CKPT --out PATH.safetensors

Removes the heads whose gate is closed (log_alpha < 0): gathers the kept heads'
q/k/v/r rows, u/v biases, persistent vectors and output-projection columns,
folds the output scaling into the weights, and writes a smaller checkpoint
(sidecar and vocabulary beside it) that eval and generate load with no gates.
Prints heads, parameters and forward FLOPs before and after.
)";

const char* kProfileHelp = R"(usage: headcount profile (--from CKPT | --config FILE) --out DIR [--batch B] [--reps N]
                         [--heads-per-layer h0,h1,...]

What every head costs. For the model of a checkpoint (dense, gated or
compacted) or of a config (fresh weights; timing does not depend on them):
  - analytic forward/backward FLOPs and bytes of each part of each layer
    (qkv, position, content, persistent, softmax, weighted_sum, output; and
    the head-independent layernorm, ffn, output_layer), docs/profiling.md;
  - measured time of each part per training step (forward and backward), the
    op profiler's wall times summed by region, and a Chrome trace of one step;
  - the marginal cost of a head: each layer swept from 0 to H heads, the
    others fixed, time = a + b * heads fitted per layer (training step and
    inference forward), with the largest residual;
  - for heads per layer (--heads-per-layer, or a gated checkpoint's kept
    heads): the time the fits predict against the time of a model with
    exactly that many heads in each layer (which heads does not change the time).
Writes DIR/report.md, costs.csv, costs.json, trace.json, sweep.svg, parts.svg.
Also DIR/cost_heatmap.svg (each head's marginal cost) and, for a gated
checkpoint, gates_heatmap.svg (each head's P(open)).
--batch defaults to the config's batch, --reps to 5: each configuration of the
sweeps is timed in min(reps, 3) rounds over all of them, reps runs in all at
least, each run right before a run of the whole model: its time is the median
of those ratios times the whole model's fastest run (a shared machine that
slows for seconds moves both runs of a pair alike); the parts are the mean of
reps profiled steps.
)";

const char* kBenchHelp = R"(usage: headcount bench (--from CKPT [--pruned CKPT2] | --config FILE [--keep F,F,... | --unfused])
                       [--batches 1,4,16] [--reps N] [--device cpu|cuda] [--json] [--cost-model COSTS_JSON]

Does pruning buy speed? Times the evaluation forward pass (one segment of
B streams x T tokens with M tokens of memory, as eval runs it) of a dense
model and its pruned versions at each batch size. After three warm-up
passes each, the dense and a pruned model run in turns, pass by pass
(dense, pruned, dense, pruned, ...), --reps passes each (default 15). Each
pair gives a ratio t_dense / t_pruned; the speedup is the median of those
ratios, with a 95% confidence interval for it that assumes nothing about
their distribution (order statistics: the j-th smallest and j-th largest
ratio, j from the Binomial(n, 1/2) distribution; under 6 pairs it is the
whole range, with its lower coverage in the JSON). Prints ms per segment
(the median pass), tokens/s, the speedup and its interval, the ideal
speedup (dense FLOPs / pruned FLOPs, from the ops' analytic counts) and the
share of it achieved. A speedup whose interval lies wholly above the ideal
is flagged and explained from the op profiler: per part of the model
(qkv, attention, ..., output_layer; op by op: qkv, content, softmax, ...,
output_layer), its time and FLOPs dense and
pruned, and the FLOP rates of the parts that shrink with heads and of those
that do not.
  --from CKPT             a checkpoint; a gated one is timed with all heads
                          (dense) against its compaction
  --from A --pruned B     A against B (a compacted checkpoint, or a gated one,
                          compacted here)
  --config FILE           fresh weights (the time does not depend on them):
                          dense against copies keeping each --keep fraction
                          of the heads in every layer (default 0.75,0.5)
  --config FILE --unfused the op-by-op attention path (fused_attention
                          false) against the fused op (true), the same
                          weights: the speedup is what fusion buys (its
                          ideal is above 1: the fused op computes only the
                          scores a row can see, the op-by-op path all S+N)
--json prints the rows as JSON instead of the table: model, heads, batch, ms,
tok_s, flops, speedup, speedup_lo, speedup_hi, interval_coverage, pairs,
ideal, above_ideal, and for every pruned row explain: the profiler's
per-part account (5 profiled passes of each model, in turns, each part at
its fastest).
--cost-model COSTS_JSON (a costs.json of `headcount profile` on the dense
model) prints, for the batch it was measured at (one of --batches), the
inference time its cost model predicts for each model beside the measured
ms/seg and the relative error (JSON: predicted_ms, predicted_error). A cost
model made for another model, device, thread count or batch is refused.
)";

const char* kCompareHelp = R"(usage: headcount compare --dense CKPT[,CKPT...] --config PRUNE_CONFIG --out DIR
                         [--methods M,...] [--budgets 0.75,0.57,0.4] [--seeds 1,2,3] [--set key=value ...]

The pruning bake-off: for every dense model (e.g. an All-attention model and
its Transformer-XL baseline, configs/moby-char-small-txl.json), every method
(default: every method `headcount prune --help` lists but the runtime ones,
which it refuses: they have nothing to prune), every budget
(fraction of the heads kept) and every seed, runs `headcount prune` with
PRUNE_CONFIG (its model keys come from each checkpoint) and the seed as the
config's seed (data order, gate noise, a random choice), compacts, and
measures heads, non-embedding parameters, validation loss and inference
tokens/s, and what choosing the heads cost: choose_s (the one-shot choice
before the first step, from the run's choose.json) and select_s (the
selection steps' seconds, during which a learned method chooses). A method
that rewinds (lottery) takes rewind_from={dense}/step-N.safetensors, each
dense checkpoint's own early checkpoint.

Dense checkpoints with the same model keys are seeds of one model: give one
checkpoint per model, which every pruning seed starts from, or one per
pruning seed, paired with --seeds in order.

Writes DIR/results.csv (a row per seed, and per cell a summary row, seed
"mean", with the min and max validation bits over seeds), results.json,
report.md (mean and min-max range), loss_vs_parameters.svg and
loss_vs_time.svg (error bars: the range over seeds). Each run is
DIR/MODEL-METHOD-BUDGET-sSEED; finished runs are reused and an interrupted
one resumes, so the same command continues after Ctrl-C. A run records the
step of the dense checkpoint it started from (RUN/dense.json); if that
checkpoint has moved on since (its training run was lengthened), the run is
refused: remove it, or give another --out.

Tokens/s are measured at the end of every invocation, for every model of
the grid together (dense and pruned; three rounds over all models in turn,
each keeping its fastest), so that all of them are timed under the same
conditions: rerun a finished grid's command on a quiet machine to time it
again without repeating a run.
)";

const char* kHeatmapHelp = R"(usage: headcount heatmap --metrics METRICS.jsonl --out FILE.svg [--columns N]

Draws a pruning run's gates as an SVG: one row per head, grouped by layer, one
column per logged step (at most N columns, default 200, evenly picked), each
cell shaded by the head's probability of being open (dark = open), with a
colour scale beneath. `headcount report` draws the same on a page of the run.
)";

const char* kReportHelp = R"(usage: headcount report RUN_DIR [--out FILE]

Writes one self-contained HTML page about a run directory, to open from disk:
SVG figures inline, no script, nothing fetched. What it shows depends on the
files it finds there:
  metrics.jsonl  (train, prune) learning curves: training loss (the mean of
                 each band of steps) and validation loss, in nats per token,
                 and the final metrics
  open_prob      (prune) every head's P(open) over the steps, and at the end
  last.json      the run's config
  costs.json     (profile) each head's marginal cost, each part's time, and
                 the predicted against the measured time
  results.json   (compare) dense against pruned: heads, parameters, bits per
                 token with the range over seeds, speed
A file that is missing or unreadable is named on the page. A directory with
none of metrics.jsonl, costs.json and results.json is refused (exit status 2).
)";

const char* kEvalHelp = R"(usage: headcount eval --from CKPT [--split valid|test|train] [--set key=value ...] [--json]

Measures the mean next-token loss of the checkpoint on a split, with memory
carried across segments as in training: bits per byte (char level) or
perplexity (word level). --set may change batch or eval_segments.

Every token is scored. A split of n tokens gives n-1 predictions (each token
predicts the next). They are cut into B = batch contiguous streams (fewer if
the split has fewer predictions than that): stream b makes predictions
b*(n-1)/B up to (b+1)*(n-1)/B, rounded down, so stream lengths differ by at
most one. The streams are read side by side in segments of T = seg_len
tokens, each with the memory (mem_len tokens) its previous segment left; a
stream's last segment may be shorter than T. The loss is the mean over all
n-1 predictions. eval_segments = K > 0 scores only the first K segments of
each stream. Validation during training is measured the same way.
)";

const char* kGenerateHelp = R"(usage: headcount generate --from CKPT [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K] [--seed S]

Feeds the prompt, then samples N tokens (default 200) one at a time, each from
softmax(logits / T) over the K most likely tokens (default T=1, all tokens).
)";

}  // namespace

namespace {

// The flags a command accepts, as --help lists them (app/commands.cpp).
std::string options(const char* command) {
  return "\noptions:\n" + hc::flags_help(*hc::flags_of(command));
}

// prune --help: the text, then one line per registered method.
std::string prune_help() {
  std::string text = kPruneHelp;
  for (const hc::MethodInfo& m : hc::pruning_methods()) {
    char line[512];
    std::snprintf(line, sizeof line, "  %-10s %-7s %-6s %s\n             (%s)\n", m.name,
                  m.kind == hc::MethodKind::Learned  ? "learned"
                  : m.kind == hc::MethodKind::Scored ? "scored"
                                                     : "runtime", m.needs_budget ? "budget" : "", m.help,
                  m.paper);
    text += line;
    if (*m.details) text += std::string(m.details) + "\n";
  }
  std::string timed;
  for (const hc::MethodInfo& m : hc::pruning_methods())
    if (m.time_budget) timed += (timed.empty() ? "" : ", ") + std::string(m.name);
  text += "A time budget in place of a head count (target_ms or target_speedup, with cost_model: the costs.json\n"
          "of `headcount profile` on the dense model; target_batch; target_mode infer | train) is taken by\n  " +
          timed + ":\nthey keep the heads worth most per ms of predicted time that fit it (docs/pruning.md).\n";
  return text + "Keys are those of `headcount train --help`, and it runs data-parallel under mpirun as train does.\n" +
         options("prune");
}

// A command: its --help (prose, then the table of its flags) and what runs it.
struct Command {
  const char* name;
  std::string (*help)();
  int (*run)(const hc::CommandLine&);
};

const Command kCommands[] = {
    {"train", [] { return kTrainHelp + options("train") + "\nconfig keys:\n" + hc::RunConfig::help(); },
     hc::train_command},
    {"prune", prune_help, hc::prune_command},
    {"compact", [] { return kCompactHelp + options("compact"); }, hc::compact_command},
    {"profile", [] { return kProfileHelp + options("profile"); }, hc::profile_command},
    {"bench", [] { return kBenchHelp + options("bench"); }, hc::bench_command},
    {"compare", [] { return kCompareHelp + options("compare"); }, hc::compare_command},
    {"heatmap", [] { return kHeatmapHelp + options("heatmap"); }, hc::heatmap_command},
    {"report", [] { return kReportHelp + options("report"); }, hc::report_command},
    {"eval", [] { return kEvalHelp + options("eval"); }, hc::eval_command},
    {"generate", [] { return kGenerateHelp + options("generate"); }, hc::generate_command},
};

std::string usage() {
  return kUsage + std::string("\noptions (each command's --help lists those it takes):\n") +
         hc::flags_help(hc::shared_flags());
}

int run_command(int argc, char** argv) {
  using namespace hc;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(usage().c_str(), argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  // A file-size limit (ulimit -f) must fail a write with EFBIG, which the
  // writers report, not kill the process mid-checkpoint with SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  const Command* c = nullptr;
  for (const Command& k : kCommands)
    if (command == k.name) c = &k;
  if (!c) {
    std::fprintf(stderr, "headcount: unknown command '%s'\n\n%s", command.c_str(), usage().c_str());
    return 2;
  }
  try {
    const CommandLine cl = parse_command_line(command, argc - 2, argv + 2, *flags_of(command));
    if (cl.help) {
      std::fputs(c->help().c_str(), stdout);
      return 0;
    }
    if (cl.device == Device::CUDA) DataParallel::world().use_gpu();  // before any CUDA call
    apply_runtime_options(cl);
    if (DataParallel::world().ranks() > 1 && command != "train" && command != "prune")
      throw std::invalid_argument("only train and prune run under mpirun with several ranks");
    return c->run(cl);
  } catch (const std::invalid_argument& e) {
    // One failing rank of a data-parallel job takes the others down (they
    // would wait for it forever), naming itself.
    if (DataParallel::world().ranks() > 1) DataParallel::world().abort(command + ": " + e.what());
    std::fprintf(stderr, "headcount %s: %s\n", command.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    if (DataParallel::world().ranks() > 1) DataParallel::world().abort(command + ": error: " + e.what());
    std::fprintf(stderr, "headcount %s: error: %s\n", command.c_str(), e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int status = run_command(argc, argv);
  hc::DataParallel::finalize();
  return status;
}
