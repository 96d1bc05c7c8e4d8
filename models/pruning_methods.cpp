// The registry: every pruning method headcount has, one line each. The
// methods live in models/methods/; config validation, `headcount prune
// --help`, `headcount compare` and the docs read the names from here.
#include "models/pruning_method.h"

namespace hc {

// Learned methods (models/methods/NAME.cpp).
std::unique_ptr<PruningMethod> make_l0(const PruneSetup&);
std::unique_ptr<PruningMethod> make_topk(const PruneSetup&);
std::unique_ptr<PruningMethod> make_dsp(const PruneSetup&);
std::unique_ptr<PruningMethod> make_movement(const PruneSetup&);
std::unique_ptr<PruningMethod> make_lottery(const PruneSetup&);
// Scored methods that search over head sets, each its own class.
std::unique_ptr<PruningMethod> make_shapley(const PruneSetup&);
std::unique_ptr<PruningMethod> make_astar(const PruneSetup&);
// Scored methods: a criterion each, fixed once by models/methods/scored.cpp.
std::unique_ptr<PruningMethod> make_scored(ScoreFunction score, const PruneSetup&);
HeadScores taylor_scores(const ScoreInputs&);
HeadScores magnitude_scores(const ScoreInputs&);
HeadScores random_scores(const ScoreInputs&);

namespace {

MethodInfo learned(const char* name, bool needs_budget, const char* help, const char* paper, const char* details,
                   std::unique_ptr<PruningMethod> (*make)(const PruneSetup&)) {
  return {name, MethodKind::Learned, needs_budget, help, paper, details, make};
}

MethodInfo searched(const char* name, const char* help, const char* paper, const char* details,
                    std::unique_ptr<PruningMethod> (*make)(const PruneSetup&)) {
  return {name, MethodKind::Scored, true, help, paper, details, make};
}

// Every scored method takes a time budget: it keeps the best-scored heads
// that fit it (keep_within_budget).
MethodInfo scored(const char* name, const char* help, const char* paper, ScoreFunction score) {
  return {name, MethodKind::Scored, true, help, paper, "",
          [score](const PruneSetup& s) { return make_scored(score, s); }, score, /*time_budget=*/true};
}

// `m`, taking a time budget as well as a head count (target_ms, target_speedup).
MethodInfo timed(MethodInfo m) {
  m.time_budget = true;
  return m;
}

// L0's modes, for `headcount prune --help`.
const char* kL0Details = R"(             Without a budget the loss gains l0_coefficient x E[open heads], the
             coefficient ramping up over l0_warmup steps; with one, l0_coefficient x
             (E[open] - K_t)^2 / H, K_t ramping down to the budget over l0_warmup, and
             the last selection step keeps exactly the budget. Logs l0 (E[open]),
             lambda and target_heads. With a time budget the penalty is on the expected
             predicted time, and the readout keeps the heads of highest P(open) per ms
             that fit it; logs expected_ms and target_ms.)";

const char* kDspDetails = R"(             Logs temperature: dsp_temperature at the first step, falling geometrically
             to dsp_final_temperature at the last step of the selection.)";
const char* kMovementDetails = R"(             Scores: S_h -= sum over head h's weights of gradient x weight, each step;
             K_t = K + (H - K)(1 - (t+1)/l0_warmup)^3. Logs target_heads (K_t).)";
const char* kLotteryDetails = R"(             Needs rewind_from (an early checkpoint of the dense run). lottery_rounds
             rounds over the selection: train, keep H (K/H)^(r/R) heads by |dL/d head
             output| summed over the round, rewind the weights. Logs round.)";
const char* kShapleyDetails = R"(             Loss on importance_batches fixed probe batches; up to shapley_permutations
             orders, truncated within shapley_truncation nats of the full model. Prints
             each value with its standard error; choose.json keeps them.)";
const char* kSpattenDetails = R"(             Inference only: prune and compare refuse it. The program build/bench_spatten
             (bench/spatten.cpp) measures its loss and speed on a dense checkpoint against
             a static method at budgets given as fractions of all heads (at least one
             layer's): every head in the first layer, the rest spread evenly.)";
const char* kAStarDetails = R"(             Cost: loss on importance_batches fixed probe batches; at most astar_max_nodes
             expansions, then greedy. Exact when a head's removal cost never falls as
             others go (and within the cap). Prints the sets expanded; choose.json too.)";

}  // namespace

const std::vector<MethodInfo>& pruning_methods() {
  static const std::vector<MethodInfo> methods = {
      timed(learned("l0", false,
                    "hard-concrete gates and an L0 penalty (to a coefficient, or to a budget with an exact readout)",
                    "Louizos et al. 2018; Shim et al. 2021", kL0Details, make_l0)),
      learned("topk", true,
              "straight-through top-K over learned head logits: exactly K_t heads on, K_t ramping to the budget "
              "(no Gumbel noise or annealing, unlike DSP)",
              "Li et al. 2021 (DSP), straight-through form", "             Logs target_heads (K_t).", make_topk),
      learned("dsp", true,
               "Differentiable Subset Pruning: Gumbel-perturbed head logits, exactly K heads in every forward pass, "
               "backward through a relaxed top-K whose temperature anneals",
               "Li, Cotterell, Sachan 2021, arXiv 2108.04657", kDspDetails, make_dsp),
      learned("movement", true, "movement pruning, a whole head as the block: scores learned from weight x gradient",
              "Sanh et al. 2020; Lagunas et al. 2021, arXiv 2109.04838", kMovementDetails, make_movement),
      learned("lottery", true,
              "iterative pruning with weight rewinding: rounds of training, pruning a fraction of the heads by "
              "Taylor importance, and rewinding the survivors to an early checkpoint",
              "Behnke and Heafield 2020; Prasanna et al. 2020, arXiv 2005.00561", kLotteryDetails, make_lottery),
      timed(searched("shapley",
                     "Shapley values of the heads by truncated Monte Carlo over orders; the K of largest value",
                     "Held and Yang 2022, arXiv 2210.05709", kShapleyDetails, make_shapley)),
      searched("astar", "A* search over head removals for the K-head set of lowest loss",
               "Parnami et al. 2021, arXiv 2110.15225", kAStarDetails, make_astar),
      {"spatten", MethodKind::Inference, true,
       "SpAtten's cascade: per sequence, heads ranked by their output magnitude accumulated over layers; the "
       "smallest are skipped, and stay skipped in later layers",
       "Wang, Zhang, Han 2021, arXiv 2012.09852", kSpattenDetails, {}},
      scored("taylor", "|dL/d head gate| averaged over importance_batches batches, normalised per layer",
             "Michel et al. 2019", taylor_scores),
      scored("magnitude", "L2 norm of each head's weights", "Han et al. 2015, per head", magnitude_scores),
      scored("random", "a seeded random choice (the baseline)", "-", random_scores),
  };
  return methods;
}

const MethodInfo& find_method(const std::string& name) {
  for (const MethodInfo& m : pruning_methods())
    if (name == m.name) return m;
  throw std::invalid_argument("unknown pruning method '" + name + "' (known: " + method_names() + ")");
}

std::string method_names() {
  std::string names;
  for (const MethodInfo& m : pruning_methods()) names += (names.empty() ? "" : ", ") + std::string(m.name);
  return names;
}

}  // namespace hc
