// Every command's flags, described once: the parser checks each value
// against this table and `--help` prints it (app/cli.h).
#include "app/commands.h"

#include "models/pruning_method.h"

namespace hc {

namespace {

// The fields every flag has.
Flag flag(const std::string& name, FlagType type, const std::string& metavar, const std::string& help) {
  Flag f;
  f.name = name;
  f.type = type;
  f.metavar = metavar;
  f.help = help;
  return f;
}

Flag on_off(const std::string& name, const std::string& help) { return flag(name, FlagType::Switch, "", help); }

Flag text(const std::string& name, const std::string& metavar, const std::string& help) {
  return flag(name, FlagType::Text, metavar, help);
}

Flag integer(const std::string& name, const std::string& metavar, double min, double max, const std::string& fallback,
             const std::string& help) {
  Flag f = flag(name, FlagType::Integer, metavar, help);
  f.min = min;
  f.max = max;
  f.fallback = fallback;
  return f;
}

// A number in (min, max] when min_open, else [min, max].
Flag real(const std::string& name, const std::string& metavar, double min, bool min_open, double max,
          const std::string& fallback, const std::string& help) {
  Flag f = integer(name, metavar, min, max, fallback, help);
  f.type = FlagType::Real;
  f.min_open = min_open;
  return f;
}

Flag choice(const std::string& name, const std::string& metavar, std::vector<std::string> choices,
            const std::string& fallback, const std::string& help) {
  Flag f = flag(name, FlagType::Choice, metavar, help);
  f.fallback = fallback;
  f.choices = std::move(choices);
  return f;
}

Flag list(Flag f, bool unique = false) {
  f.list = true;
  f.unique = unique;
  return f;
}

std::vector<std::string> method_choices() {
  std::vector<std::string> names;
  for (const MethodInfo& m : pruning_methods()) names.push_back(m.name);
  return names;
}

// A shared flag, with the command's own help line when it says more.
Flag shared(const std::string& name, const std::string& help = "") {
  for (Flag f : shared_flags())
    if (f.name == name) {
      if (!help.empty()) f.help = help;
      return f;
    }
  throw std::logic_error("no shared flag --" + name);
}

// The flags every command that runs a model takes.
std::vector<Flag> runtime(bool tf32 = true) {
  std::vector<Flag> flags = {shared("device"), shared("threads")};
  if (tf32) flags.push_back(shared("tf32"));
  flags.push_back(shared("help"));
  return flags;
}

std::vector<Flag> with(std::vector<Flag> own, const std::vector<Flag>& more) {
  own.insert(own.end(), more.begin(), more.end());
  return own;
}

const Flag kStopAt = integer("stop-at", "N", 1, 1e9, "",
                             "checkpoint and stop after step N, as Ctrl-C would (exit status 130)");
const Flag kDumpGradients = text("dump-gradients", "F",
                                 "write the first step's gradients (averaged over ranks, before clipping) to F as "
                                 "safetensors, to check a data-parallel run");
const Flag kResume = on_off("resume", "continue from out_dir/last.safetensors");

std::vector<Flag> train_flags() {
  return with({shared("config", "the run's config (configs/*.json; keys below)"), shared("set"), kResume, kStopAt,
               kDumpGradients},
              runtime());
}

std::vector<Flag> prune_flags() {
  return with({shared("from", "the dense checkpoint to prune"),
               shared("config", "the pruning run's config (keys: `headcount train --help`)"), shared("set"),
               choice("method", "M", method_choices(), "", "the pruning method (the config key prune_method)"), kResume,
               kStopAt, kDumpGradients},
              runtime());
}

std::vector<Flag> compact_flags() {
  return with({shared("from", "the gated checkpoint of a pruning run"), text("out", "PATH", "the smaller checkpoint to write"),
               shared("set")},
              runtime(false));
}

std::vector<Flag> profile_flags() {
  return with({shared("from", "a checkpoint (dense, gated or compacted) to profile"),
               shared("config", "or: a config, profiled with fresh weights"), shared("set"),
               text("out", "DIR", "where the report and plots go"),
               integer("batch", "B", 1, 4096, "", "streams per step (default: the config's batch)"),
               integer("reps", "N", 1, 100000, "5", "profiled steps, and runs of each sweep configuration"),
               list(integer("heads-per-layer", "h0,h1,...", 0, 4096, "",
                            "heads per layer to predict (one count per layer, at most the layer's heads)")),
               integer("validate", "K", 0, 100000, "0",
                       "check the cost model on K random pruned configurations, each timed twice"),
               integer("validate-seed", "S", 0, 1000000000, "1", "the seed that draws them")},
              runtime());
}

std::vector<Flag> bench_flags() {
  return with({shared("from", "a checkpoint (a gated one: all heads against its compaction)"),
               text("pruned", "CKPT2", "with --from: time --from against this pruned version of it"),
               shared("config", "or: a config, with fresh weights"), shared("set"),
               list(real("keep", "F,F,...", 0, true, 1, "0.75,0.5", "with --config: fractions of the heads kept")),
               on_off("unfused", "with --config, instead of --keep: the op-by-op attention path against the fused "
                                 "one (fused_attention false, then true; the same weights)"),
               list(integer("batches", "B,B,...", 1, 4096, "1,4,16", "batch sizes to time")),
               integer("reps", "N", 1, 100000, "15", "timed passes (the median is reported)"),
               on_off("json", "print the rows as JSON instead of the table"),
               text("cost-model", "COSTS_JSON",
                    "a profile's costs.json: its predicted time of the inference forward beside the measured one")},
              runtime());
}

std::vector<Flag> compare_flags() {
  return with({list(text("dense", "CKPT[,CKPT...]", "the dense checkpoints: one per model, or one per seed")),
               shared("config", "PRUNE_CONFIG, the pruning runs' config"), shared("set"),
               text("out", "DIR", "where the runs, tables and plots go"),
               list(choice("methods", "M,...", method_choices(), "", "pruning methods (default: all)"), true),
               list(real("budgets", "F,...", 0, true, 1, "0.75,0.57,0.4", "fractions of the heads kept"), true),
               list(integer("seeds", "S,...", 0, kMaxInteger, "1", "pruning seeds (the config key seed)"), true)},
              runtime());
}

std::vector<Flag> heatmap_flags() {
  return {text("metrics", "METRICS.jsonl", "a pruning run's metrics"), text("out", "FILE.svg", "the picture to write"),
          integer("columns", "N", 1, 100000, "200", "at most N columns (logged steps, evenly picked)"), shared("help")};
}

std::vector<Flag> report_flags() {
  Flag run = text("run", "DIR", "the run directory (train, prune, profile or compare); also the line's bare word");
  run.positional = true;
  return {run, text("out", "FILE", "the page to write (default: DIR/report.html)"), shared("help")};
}

std::vector<Flag> eval_flags() {
  return with({shared("from", "the checkpoint to evaluate"),
               shared("set", "override a config key of the checkpoint (batch, eval_segments)"),
               choice("split", "S", {"valid", "test", "train"}, "valid", "the split to score"),
               on_off("json", "also print split, loss, step, heads, parameters and tok_s as JSON")},
              runtime());
}

std::vector<Flag> generate_flags() {
  Flag top_k = integer("top-k", "K", 1, 1000000, "0",
                       "sample from the K most likely tokens (K past the vocabulary: all of them)");
  top_k.special = {{"0", "all tokens"}};
  return with({shared("from", "the checkpoint to sample from"), shared("set"),
               text("prompt", "TEXT", "the text to continue (default: a newline)"),
               integer("tokens", "N", 1, 1000000, "200", "tokens to sample"),
               real("temperature", "T", 0, true, 100, "1", "divides the logits before the softmax"), top_k,
               integer("seed", "S", 0, kMaxInteger, "1", "the sampling seed")},
              runtime());
}

}  // namespace

const std::vector<Flag>& shared_flags() {
  static const std::vector<Flag> flags = {
      text("config", "FILE", "a JSON config (configs/*.json); keys are listed by `headcount train --help`"),
      [] {
        Flag f = text("set", "key=value", "override one config key (the value is JSON, or a plain string)");
        f.repeatable = true;
        return f;
      }(),
      text("from", "CKPT", "a checkpoint (.safetensors; its .json sidecar sits beside it)"),
      choice("device", "D", {"cpu", "cuda"}, "cpu", "where to run"),
      integer("threads", "K", 1, 1024, "", "CPU threads (default: all cores, or OMP_NUM_THREADS)"),
      on_off("tf32", "with --device cuda: TF32 tensor cores for float32 GEMMs (about 1e-3 relative)"),
      on_off("help", "this text"),
  };
  return flags;
}

const std::vector<CommandFlags>& command_flags() {
  static const std::vector<CommandFlags> commands = {
      {"train", train_flags()},     {"eval", eval_flags()},       {"generate", generate_flags()},
      {"prune", prune_flags()},     {"compact", compact_flags()}, {"heatmap", heatmap_flags()},
      {"compare", compare_flags()}, {"profile", profile_flags()}, {"bench", bench_flags()},
      {"report", report_flags()},
  };
  return commands;
}

const std::vector<Flag>* flags_of(const std::string& command) {
  for (const CommandFlags& c : command_flags())
    if (c.name == command) return &c.flags;
  return nullptr;
}

}  // namespace hc
