// Every scored method: score each head once on the dense model, keep the
// `budget` best over all layers (ties to the earlier layer and head), or
// with a time budget the best per ms that fit it (keep_within_budget), and fix
// the gates there: logits +20 for the kept heads and -20 for the others,
// where the hard-concrete sample is 1 or 0 whatever its noise. The gates do
// not learn; the run then fine-tunes the weights around the chosen heads.
// A criterion is one function (models/methods/magnitude.cpp, taylor.cpp,
// random.cpp); the table in models/pruning_methods.cpp names it.
#include "models/gates.h"
#include "models/pruning_method.h"

namespace hc {

namespace {

class Scored final : public PruningMethod {
 public:
  Scored(ScoreFunction score, const PruneSetup& s) : score_(score), s_(s) {}

  void choose(AllAttLM& model, const ScoreInputs& probe) override {
    set_gate_logits(model, keep_within_budget(score_(probe), s_), 20.0);
  }

 protected:
  std::vector<Variable> draw_gates(const AllAttLM& model, int64_t, RngStream& rng) override {
    return layer_gates(model, rng, /*training=*/true, s_.config.output_scaling);
  }

 private:
  ScoreFunction score_;
  PruneSetup s_;
};

}  // namespace

std::unique_ptr<PruningMethod> make_scored(ScoreFunction score, const PruneSetup& s) {
  return std::make_unique<Scored>(score, s);
}

}  // namespace hc
