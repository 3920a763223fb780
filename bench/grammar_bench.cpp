// What constrained decoding costs: decode tok/s of one sequence with and without a grammar
// (Session::generate), the time one token mask takes in the states those runs went through
// (replayed), and the scheduler's aggregate tok/s with N sequences decoded together, all
// constrained or none. Repetitions of the arms are interleaved so that a drift of the machine
// does not favour one of them.
//   grammar_bench MODEL.gguf [threads=2] [tokens=128] [reps=3] [parallel=8 (0: no batch part)]
// A model from `chimera model synth --arch gemma3 --size 1b --type q4_0` has the real Gemma 3
// vocabulary (262k tokens) and real shapes; its weights are random, so rows say "synthetic".
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/grammar/grammar_mask.h"
#include "engine/grammar/json_schema_compiler.h"
#include "server/scheduler.h"
#include "util/build_info.h"
#include "util/clock.h"
#include "util/cpu.h"

namespace {

using namespace chimera;

struct Arm {
  std::string name;
  std::shared_ptr<const engine::Grammar> grammar;  // null: free text
};

const char* kReportSchema = R"({"type":"object","properties":{
  "title":{"type":"string"},"summary":{"type":"string"},
  "findings":{"type":"array","items":{"type":"object","properties":{"fact_id":{"type":"integer","minimum":1},
    "claim":{"type":"string"},"delta_pct":{"type":"number"}},"required":["fact_id","claim"],"additionalProperties":false}},
  "verdict":{"enum":["faster","slower","no difference"]}},
  "required":["title","summary","findings","verdict"],"additionalProperties":false})";
const char* kNumbersSchema =
    R"({"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"},
  "ok":{"type":"boolean"},"v":{"type":"number"}},"required":["id","ok","v"],"additionalProperties":false}})";

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}
double stddev(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

struct SingleRun {
  double decode_tps = 0;
  std::vector<int32_t> tokens;
};

SingleRun run_single(engine::Session& session, const Arm& arm, int tokens, uint64_t seed) {
  engine::GenerateRequest r;
  r.prompt = "Write the benchmark report as JSON.";
  r.sampling.temperature = 1.0f;
  r.sampling.seed = seed;
  r.num_predict = tokens;
  r.ignore_eos = true;
  r.grammar = arm.grammar;
  auto result = session.generate(r, {});
  if (!result.ok()) {
    std::fprintf(stderr, "%s: %s\n", arm.name.c_str(), result.status().message().c_str());
    std::exit(1);
  }
  SingleRun run;
  run.tokens = result->tokens;
  const auto& t = result->timings;
  run.decode_tps = t.eval_ns > 0 ? (t.eval_count - 1) / (static_cast<double>(t.eval_ns) / 1e9) : 0;
  return run;
}

// The states a run went through, replayed: the time of each token's mask (and applying it to a
// row of logits), and how many tokens were generated before the grammar's end.
struct MaskCost {
  std::vector<double> ms;
  int active = 0;
};
MaskCost replay(const engine::Model& model, const Arm& arm, const std::vector<int32_t>& tokens) {
  MaskCost cost;
  auto constraint = engine::GrammarConstraint::create(arm.grammar, model.grammar_vocabulary());
  std::vector<float> logits(static_cast<size_t>(model.grammar_vocabulary()->n_vocab()), 0.0f);
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int64_t i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!(*constraint)->compute_mask(n - i).is_ok()) break;
    (*constraint)->apply(logits.data(), static_cast<int32_t>(logits.size()));
    cost.ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!(*constraint)->ended()) ++cost.active;
    if (!(*constraint)->accept(tokens[static_cast<size_t>(i)]).is_ok()) break;
  }
  return cost;
}

double run_batch(server::Scheduler& scheduler, const Arm& arm, int n, int tokens, uint64_t seed) {
  std::vector<std::shared_ptr<server::SequenceStream>> streams;
  const int64_t start = monotonic_ns();
  for (int i = 0; i < n; ++i) {
    server::SequenceRequest request;
    request.prompt = {2};
    for (int p = 1; p < 24; ++p) request.prompt.push_back(1000 + (p * 131 + i * 17) % 5000);
    request.num_predict = tokens;
    request.ignore_eos = true;
    request.sampling.temperature = 1.0f;
    request.sampling.seed = seed * 100 + static_cast<uint64_t>(i);
    request.grammar = arm.grammar;
    request.received_ns = monotonic_ns();
    auto stream = scheduler.submit(std::move(request));
    if (!stream.ok()) {
      std::fprintf(stderr, "submit: %s\n", stream.status().message().c_str());
      std::exit(1);
    }
    streams.push_back(*stream);
  }
  int64_t generated = 0;
  std::vector<std::string> pieces;
  for (auto& stream : streams) {
    while (!stream->wait(pieces, std::chrono::milliseconds(100))) pieces.clear();
    if (!stream->outcome().status.is_ok()) {
      std::fprintf(stderr, "%s: %s\n", arm.name.c_str(),
                   stream->outcome().status.message().c_str());
      std::exit(1);
    }
    generated += stream->outcome().eval_count;
  }
  return static_cast<double>(generated) / (static_cast<double>(monotonic_ns() - start) / 1e9);
}

int arg(int argc, char** argv, const char* name, int fallback) {
  const std::string prefix = std::string(name) + "=";
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]).rfind(prefix, 0) == 0) return std::atoi(argv[i] + prefix.size());
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(
        stderr, "usage: grammar_bench MODEL.gguf [threads=2] [tokens=128] [reps=3] [parallel=8]\n");
    return 2;
  }
  const int threads = arg(argc, argv, "threads", 2), tokens = arg(argc, argv, "tokens", 128);
  const int reps = arg(argc, argv, "reps", 3), parallel = arg(argc, argv, "parallel", 8);
  auto model = engine::Model::load(argv[1]);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().message().c_str());
    return 1;
  }
  const engine::ModelInfo& info = (*model)->info();
  Stopwatch vocab_watch;
  auto vocab = (*model)->grammar_vocabulary();
  const double vocab_ms = static_cast<double>(vocab_watch.elapsed_ns()) / 1e6;

  std::vector<Arm> arms = {{"free text", nullptr}, {"format=json", engine::json_object_grammar()}};
  for (auto [name, text] :
       {std::pair{"schema: report", kReportSchema}, std::pair{"schema: numbers", kNumbersSchema}}) {
    auto g = engine::compile_json_schema(text);
    if (!g.ok()) {
      std::fprintf(stderr, "%s\n", g.status().message().c_str());
      return 1;
    }
    arms.push_back({name, *g});
  }
  const std::string provenance = info.synthetic ? "synthetic" : "measured";
  std::printf("build %s %s (%s) | cpu %s | threads %d | model %s %s %s, vocab %d%s\n",
              build_info().git_commit.c_str(), build_info().build_type.c_str(),
              build_info().compiler.c_str(), cpu_model_name().c_str(), threads,
              info.architecture.c_str(), info.size_label.c_str(), info.weight_type.c_str(),
              info.n_vocab,
              info.synthetic ? " (dummy weights: output meaningless, timings real)" : "");
  std::printf("token tables for the vocabulary: built once in %.0f ms, %.1f MB\n\n", vocab_ms,
              static_cast<double>(vocab->memory_bytes()) / 1e6);

  // One sequence: tg<tokens>, arms interleaved rep by rep.
  engine::SessionOptions session_options;
  session_options.num_ctx = tokens + 64;
  session_options.num_thread = threads;
  auto session = engine::Session::create(*model, session_options);
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().message().c_str());
    return 1;
  }
  std::map<std::string, std::vector<double>> tps;
  std::map<std::string, MaskCost> masks;
  run_single(**session, arms[0], 8, 0);  // warm-up
  for (int rep = 0; rep < reps; ++rep) {
    for (const Arm& arm : arms) {
      SingleRun run = run_single(**session, arm, tokens, 1000 + static_cast<uint64_t>(rep));
      tps[arm.name].push_back(run.decode_tps);
      if (arm.grammar) {
        MaskCost cost = replay(**model, arm, run.tokens);
        masks[arm.name].ms.insert(masks[arm.name].ms.end(), cost.ms.begin(), cost.ms.end());
        masks[arm.name].active += cost.active;
      }
    }
  }
  const double base = mean(tps["free text"]);
  std::printf("%-22s %-10s %22s %12s %30s %14s\n", "arm", "test", "decode tok/s (n)", "vs free",
              "mask ms p50 / p99 / max", "in grammar");
  for (const Arm& arm : arms) {
    const auto& v = tps[arm.name];
    std::string cost = "-", active = "-";
    if (arm.grammar) {
      const MaskCost& m = masks[arm.name];
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.3f / %.3f / %.3f", percentile(m.ms, 0.5),
                    percentile(m.ms, 0.99), percentile(m.ms, 1.0));
      cost = buf;
      std::snprintf(buf, sizeof(buf), "%d / %d tok", m.active, tokens * reps);
      active = buf;
    }
    char rate[64];
    std::snprintf(rate, sizeof(rate), "%.2f ± %.2f (%zu)", mean(v), stddev(v), v.size());
    std::printf("%-22s tg%-8d %22s %+11.1f%% %30s %14s  [%s]\n", arm.name.c_str(), tokens, rate,
                100.0 * (mean(v) - base) / base, cost.c_str(), active.c_str(), provenance.c_str());
  }

  // Paired by repetition (arms of one repetition ran back to back, so they share the machine's
  // load at the time): the median of constrained / free text.
  std::printf("\nconstrained / free text, paired by repetition (median of %d ratios):\n", reps);
  for (const Arm& arm : arms) {
    if (!arm.grammar) continue;
    std::vector<double> ratios;
    for (int rep = 0; rep < reps; ++rep)
      ratios.push_back(tps[arm.name][static_cast<size_t>(rep)] /
                       tps["free text"][static_cast<size_t>(rep)]);
    std::printf("  %-20s %.1f%% (range %.1f%% to %.1f%%)  [derived]\n", arm.name.c_str(),
                100.0 * percentile(ratios, 0.5), 100.0 * percentile(ratios, 0.0),
                100.0 * percentile(ratios, 1.0));
  }

  // What the masks cost against a decode step, from the two measurements (robust to a machine whose
  // load drifts between the arms' runs): mean mask ms per token / ms per free-text token.
  std::printf(
      "\nmask time as a share of one decode step (derived: mean mask ms / (1000 / free-text "
      "tok/s)):\n");
  for (const Arm& arm : arms) {
    if (!arm.grammar) continue;
    const double share = mean(masks[arm.name].ms) / (1000.0 / base);
    std::printf("  %-20s %.3f ms a token = %.2f%% of %.1f ms  [derived]\n", arm.name.c_str(),
                mean(masks[arm.name].ms), 100.0 * share, 1000.0 / base);
  }

  if (parallel <= 0) return 0;  // parallel=0: single-sequence figures only
  // N sequences in one batch through the server's scheduler.
  server::SchedulerOptions options;
  options.model_name = "bench";
  options.n_seq = parallel;
  options.n_ctx = tokens + 64;
  options.num_thread = threads;
  auto scheduler = server::Scheduler::create(*model, options, nullptr);
  if (!scheduler.ok()) {
    std::fprintf(stderr, "%s\n", scheduler.status().message().c_str());
    return 1;
  }
  const int batch_tokens = std::max(16, tokens / 2);
  std::map<std::string, std::vector<double>> aggregate;
  run_batch(**scheduler, arms[0], parallel, 8, 0);  // warm-up
  for (int rep = 0; rep < reps; ++rep) {
    for (const Arm& arm : arms) {
      aggregate[arm.name].push_back(
          run_batch(**scheduler, arm, parallel, batch_tokens, static_cast<uint64_t>(rep)));
    }
  }
  const double batch_base = mean(aggregate["free text"]);
  std::printf("\n%-22s %-14s %26s %18s\n", "arm", "test", "aggregate tok/s (n)", "of free text");
  for (const Arm& arm : arms) {
    const auto& v = aggregate[arm.name];
    char rate[64];
    std::snprintf(rate, sizeof(rate), "%.2f ± %.2f (%zu)", mean(v), stddev(v), v.size());
    std::printf("%-22s %dx tg%-9d %26s %17.1f%%  [%s]\n", arm.name.c_str(), parallel, batch_tokens,
                rate, 100.0 * mean(v) / batch_base, provenance.c_str());
  }
  return 0;
}
