// Does `chimera tune --strategy race` find what the full grid finds, for fewer calls? Prints, for a
// 12-configuration space, how often the race's tied-for-best set equals the grid's and how many
// measured calls each used, over many seeded studies.
//
//   tune_race_bench                       simulated backends (a GPU-like space, 200 studies)
//   tune_race_bench --studies N --repeat R --noise 0.03
//   tune_race_bench --backend embedded:m.gguf   one grid and one race on a real backend (slow), over
//                                               num_thread {1,2} x num_batch {8,32,512} x temperature
//                                               {0.2,0.8}, objective ttft (prefill depends on batch)
//
// The simulated space is num_gpu {999,20,10} x num_ctx {2048,4096} x temperature {0.2,0.8}: partial
// offload (20 and 10 layers) is 3-6x slower, num_ctx and temperature change nothing; each
// call's decode rate has multiplicative noise of the given sd. Which set is "right" is the grid's
// answer at the same repeat: the race is judged by agreement with it, not by a number chosen here.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include <fmt/format.h>

#include "lab/stats.h"
#include "lab/tune_study.h"
#include "llm/backend.h"
#include "util/clock.h"

namespace chimera {
namespace {

class SimulatedBackend final : public llm::Backend {
 public:
  SimulatedBackend(uint64_t seed, double noise) : rng_(seed), noise_(noise) {}
  std::string name() const override { return "simulated://gpu"; }
  llm::BackendCapabilities capabilities() const override {
    return {.server_timings = true, .ignore_eos = true, .exact_token_counts = true, .seed = true};
  }
  llm::CallRecord generate(const llm::Request& request, const llm::OnText& = {}) override {
    const llm::Options& o = request.options;
    double tps = 100.0;
    if (o.num_gpu && *o.num_gpu == 20) tps = 30.0;
    if (o.num_gpu && *o.num_gpu == 10) tps = 17.0;
    // Box-Muller on the seeded generator: multiplicative normal noise.
    double u1 = rng_.uniform_open_closed(), u2 = rng_.uniform_open_closed();
    tps *= 1.0 + noise_ * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
    const int64_t tokens = o.num_predict.value_or(64);
    llm::CallRecord r;
    r.backend = name();
    r.ok = true;
    r.options_requested = o;
    r.t_request_ns = 1'000'000'000;
    r.t_first_token_ns = r.t_request_ns + 20'000'000;
    r.t_first_byte_ns = r.t_first_token_ns;
    r.server.eval_count = tokens;
    r.server.eval_ns = static_cast<int64_t>(static_cast<double>(tokens) / tps * 1e9);
    r.server.prompt_eval_count = 10;
    r.server.prompt_eval_ns = 20'000'000;
    r.server.load_ns = 0;
    r.t_done_ns = r.t_first_token_ns + *r.server.eval_ns;
    r.token_count = tokens;
    r.token_count_source = llm::TokenCountSource::kServer;
    return r;
  }
  Result<std::vector<llm::ModelEntry>> list_models() override { return std::vector<llm::ModelEntry>{}; }
  Result<llm::ModelDescription> describe(const std::string&) override { return llm::ModelDescription{}; }

 private:
  lab::SeededRng rng_;
  double noise_;
};

struct Outcome {
  std::set<std::string> tied;
  int64_t calls = 0;
};

Outcome run(llm::Backend& backend, lab::StudySpec spec, lab::Strategy strategy) {
  spec.strategy = strategy;
  auto configs = lab::expand_space(spec.axes, lab::SpaceFacts{});
  lab::PromptWorkload workload(spec, true);
  lab::TuneStudy study(backend, workload, spec, *configs);
  lab::StudyRun r = study.run();
  lab::AnalysisInput in;
  in.spec = &spec;
  in.configs = &*configs;
  in.calls = &r.calls;
  in.calls_per_sample = workload.calls_per_sample();
  in.rounds = r.rounds;
  lab::TuneAnalysis a = lab::analyze_study(in);
  return {std::set<std::string>(a.tied.begin(), a.tied.end()), r.measured_calls};
}

std::string set_text(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ",") + x;
  return "{" + out + "}";
}

}  // namespace
}  // namespace chimera

int main(int argc, char** argv) {
  using namespace chimera;
  int studies = 200, repeat = 10;
  double noise = 0.03;
  std::string backend_spec;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--studies")) studies = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--noise")) noise = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--backend")) backend_spec = argv[i + 1];
  }
  lab::StudySpec spec;
  spec.name = "race-vs-grid";
  spec.repeat = repeat;
  spec.objectives = {*lab::parse_objective(backend_spec.empty() ? "decode_tps" : "ttft")};
  spec.num_predict = 64;
  if (backend_spec.empty()) {
    spec.prompts = {"p"};
    spec.axes = {*lab::parse_param("num_gpu=999,20,10"), *lab::parse_param("num_ctx=2048,4096"),
                 *lab::parse_param("temperature=0.2,0.8")};
    int same = 0;
    int64_t grid_calls = 0, race_calls = 0;
    size_t race_subset = 0, race_superset = 0;
    for (int s = 0; s < studies; ++s) {
      spec.seed = 1000 + static_cast<uint64_t>(s);
      SimulatedBackend g(7919 * static_cast<uint64_t>(s) + 1, noise), r(7919 * static_cast<uint64_t>(s) + 2, noise);
      Outcome grid = run(g, spec, lab::Strategy::kGrid);
      Outcome race = run(r, spec, lab::Strategy::kRace);
      same += grid.tied == race.tied;
      race_subset += std::includes(grid.tied.begin(), grid.tied.end(), race.tied.begin(), race.tied.end()) &&
                     grid.tied != race.tied;
      race_superset += std::includes(race.tied.begin(), race.tied.end(), grid.tied.begin(), grid.tied.end()) &&
                       grid.tied != race.tied;
      grid_calls += grid.calls;
      race_calls += race.calls;
      if (s < 3) {
        std::printf("study %d: grid tied %s in %lld calls; race tied %s in %lld calls\n", s,
                    set_text(grid.tied).c_str(), static_cast<long long>(grid.calls),
                    set_text(race.tied).c_str(), static_cast<long long>(race.calls));
      }
    }
    std::printf(
        "\n12 configurations (num_gpu 999/20/10 x num_ctx 2048/4096 x temperature 0.2/0.8), %d studies "
        "per strategy, repeat %d, noise sd %.1f%% (simulated backend; call counts are exact, no "
        "timing is involved)\n",
        studies, repeat, noise * 100);
    std::printf("same tied-for-best set as the grid: %d of %d studies (%.1f%%); race's a strict subset: "
                "%zu, a strict superset: %zu\n",
                same, studies, 100.0 * same / studies, race_subset, race_superset);
    std::printf("measured calls per study: grid %.1f, race %.1f (%.1f%% of the grid's)\n",
                static_cast<double>(grid_calls) / studies, static_cast<double>(race_calls) / studies,
                100.0 * static_cast<double>(race_calls) / static_cast<double>(grid_calls));
    return 0;
  }
  auto backend = llm::make_backend(backend_spec);
  if (!backend.ok()) {
    std::fprintf(stderr, "tune_race_bench: %s\n", backend.status().message().c_str());
    return 1;
  }
  spec.backend = backend_spec;
  spec.prompts = {"Summarise in two sentences what a benchmark report of a local LLM server should "
                  "contain, and why each figure needs a confidence interval."};
  spec.num_predict = 16;
  spec.axes = {*lab::parse_param("num_thread=1,2"), *lab::parse_param("num_batch=8,32,512"),
               *lab::parse_param("temperature=0.2,0.8")};
  int64_t t0 = monotonic_ns();
  Outcome grid = run(**backend, spec, lab::Strategy::kGrid);
  int64_t t1 = monotonic_ns();
  Outcome race = run(**backend, spec, lab::Strategy::kRace);
  int64_t t2 = monotonic_ns();
  std::printf("%s, 12 configurations (num_thread 1/2 x num_batch 8/32/512 x temperature 0.2/0.8), "
              "objective ttft, repeat %d\n",
              backend_spec.c_str(), repeat);
  std::printf("grid: tied %s, %lld measured calls, %.1f s\n", set_text(grid.tied).c_str(),
              static_cast<long long>(grid.calls), (t1 - t0) / 1e9);
  std::printf("race: tied %s, %lld measured calls (%.1f%% of the grid's), %.1f s\n",
              set_text(race.tied).c_str(), static_cast<long long>(race.calls),
              100.0 * static_cast<double>(race.calls) / static_cast<double>(grid.calls), (t2 - t1) / 1e9);
  std::printf("same tied-for-best set: %s\n", grid.tied == race.tied ? "yes" : "no");
  return 0;
}
