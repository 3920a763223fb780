// chimera run: the main job. Ingests a benchmark-data folder, runs the baseline and Chimera agents
// (analysis + report each) in interleaved pairs through one backend, validates every report against
// the facts, compares the arms with statistics, and writes OUT/<timestamp>/{baseline,chimera,
// comparison}_report.md, report.html and metrics.json, plus rows in the results database. This file
// parses the flags and prints; the job is agent/main_job.h (and the dummy-weight model
// engine/synth, through cli/run_support.h).
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "agent/main_job.h"
#include "cli/cli_util.h"
#include "cli/command.h"
#include "cli/configured.h"
#include "cli/run_support.h"
#include "lab/bench_output.h"
#include "util/paths.h"
#include "util/term.h"

namespace chimera::cli {
namespace {

struct RunArgs {
  std::string data = "examples/data";
  std::string backend = "auto";
  std::string model;
  std::string baseline = "baseline";
  std::string chimera = "chimera-gemma3";
  std::string out = "reports";
  std::string db;
  std::string dummy_size = "270m";
  std::string equivalence;
  std::string prose_calls = "one";
  bool show_raw = false;
  int runs = 3;
  uint64_t seed = 42;
  int64_t analysis_num_predict = 128;
  int64_t report_num_predict = 320;
  size_t fact_budget_chars = 3500;
  bool strict = false, no_store = false, no_hwmon = false;
  double timeout_s = 600, retry_budget_s = 120;
};

std::atomic<bool> g_interrupted{false};

void print_result(const agent::MainJobResult& r) {
  std::printf("\nreports: %s/\n", r.outputs.directory.c_str());
  for (const auto& f : r.outputs.files)
    std::printf("  %s\n", std::filesystem::path(f).filename().c_str());
  if (!r.database.empty())
    std::printf("results database: %s (session %lld)\n", r.database.c_str(),
                static_cast<long long>(r.session_id));
  for (const auto& k : r.summary.kinds) {
    for (const auto& c : k.report.comparisons) {
      if (c.metric == "decode_tps" || c.metric == "ttft_ms") {
        std::printf(
            "%s call: %s\n", k.kind.c_str(),
            lab::verdict_sentence(c, r.summary.alpha, r.summary.level, "chimera", "baseline")
                .c_str());
      }
    }
  }
  for (const auto& g : r.summary.grounding) {
    std::printf(
        "grounding %s: %zu of %zu numbers and dates grounded over %zu reports (mean score %s), %zu "
        "findings\n",
        g.arm.c_str(), g.grounded, g.checked, g.validated,
        g.mean_score() ? fmt::format("{:.1f}%", *g.mean_score() * 100).c_str() : "-", g.findings);
  }
  if (r.run.backend.synthetic) {
    std::printf(
        "note: dummy weights: the reports' text is not meaningful; the timings are real for this "
        "architecture on this machine\n");
  }
  std::fflush(stdout);
}

int run_main(const RunArgs& a) {
  if (a.runs < 2) {
    return report_error(
        Status(ErrorCode::kInvalidArgument,
               fmt::format("--runs {} is too few: statistics need at least 2 measured runs per arm",
                           a.runs)));
  }
  agent::MainJob job;
  if (!a.equivalence.empty()) {
    auto margin = lab::parse_equivalence_margin(a.equivalence);
    if (!margin.ok()) return report_error(margin.status());
    job.equivalence_margin = *margin;
  }
  auto prose_calls = agent::parse_prose_calls(a.prose_calls);
  if (!prose_calls.ok()) return report_error(prose_calls.status());
  job.data = a.data;
  job.backend = a.backend;
  job.model = a.model;
  job.baseline = a.baseline;
  job.chimera = a.chimera;
  job.out = a.out;
  job.db = a.db;
  job.no_store = a.no_store;
  job.no_hwmon = a.no_hwmon;
  job.show_raw = a.show_raw;
  job.settings.runs = a.runs;
  job.settings.seed = a.seed;
  job.settings.analysis_num_predict = a.analysis_num_predict;
  job.settings.report_num_predict = a.report_num_predict;
  job.settings.fact_budget_chars = a.fact_budget_chars;
  job.settings.prose_calls = *prose_calls;
  job.settings.read_timeout_ms = static_cast<int64_t>(a.timeout_s * 1000);
  job.settings.retry_budget_ms = static_cast<int64_t>(a.retry_budget_s * 1000);
  job.command_line = command_line("chimera run");
  job.probes = agent::default_probes();
  std::string dummy_size = a.dummy_size;
  job.probes.dummy_model = [dummy_size] { return dummy_model(dummy_size); };

  job.say = [](const std::string& line) { std::printf("%s\n", line.c_str()); };
  std::optional<term::ProgressBar> progress;  // draws only on a terminal
  job.progress = [&](int64_t done, int64_t total, const std::string& detail) {
    if (!progress) progress.emplace("run", total);
    progress->update(done, detail);
  };
  job.cancelled = [] { return g_interrupted.load(); };
  // Ctrl-C stops the agents between calls and the reports are written from what finished; before
  // the calls it ends the process as usual.
  std::optional<InterruptGuard> guard;
  job.calls_starting = [&] { guard.emplace(g_interrupted); };
  job.calls_finished = [&] {
    guard.reset();
    if (progress) progress->finish();
  };
  job.store_warning = [](const std::string& w) {
    std::fprintf(stderr, "chimera: warning: results store: %s\n", w.c_str());
  };

  auto result = agent::run_main_job(job);
  if (!result.ok()) return report_error(result.status());
  print_result(*result);

  if (result->result.cancelled) return 130;
  if (result->ok_executions == 0) {
    return report_error(
        Status(ErrorCode::kUnavailable,
               "no agent execution succeeded; the first error: " + result->first_error));
  }
  if (a.strict && result->validator_findings > 0) {
    std::fprintf(stderr,
                 "chimera: --strict: the validator found %zu problems in the reports (see the "
                 "Validation sections)\n",
                 result->validator_findings);
    return kExitFindings;
  }
  return kExitOk;
}

}  // namespace

void register_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* sub = app.add_subcommand(
      "run",
      "The main job: baseline vs Chimera agent on a data folder -> reports (Markdown + HTML)");
  args->data = default_data_folder();
  default_from_config(sub->add_option("--data", args->data, "benchmark-data folder to ingest")
                          ->capture_default_str(),
                      args->data, "data");
  default_from_config(sub->add_option("--backend", args->backend,
                                      "auto | embedded:PATH.gguf | ollama://host:port/MODEL | "
                                      "openai://host:port/MODEL | ollama:NAME:TAG")
                          ->capture_default_str(),
                      args->backend, "backend");
  default_from_config(sub->add_option("--model", args->model,
                                      "model name (auto: any gemma3 model, gemma3:latest first)"),
                      args->model, "model");
  sub->add_option("--baseline", args->baseline, "baseline profile: a name or a .toml file")
      ->capture_default_str();
  sub->add_option("--chimera", args->chimera, "Chimera profile: a name or a .toml file")
      ->capture_default_str();
  sub->add_option("--runs", args->runs, "measured executions per agent")->capture_default_str();
  default_from_config(
      sub->add_option("--out", args->out, "output folder; each run writes OUT/<timestamp>/")
          ->capture_default_str(),
      args->out, "out");
  sub->add_option("--seed", args->seed, "derives the per-pair seeds")->capture_default_str();
  sub->add_flag("--strict", args->strict,
                "exit with code 3 when the validator finds any problem in a report");
  sub->add_option("--analysis-num-predict", args->analysis_num_predict,
                  "output cap of the analysis call (both agents)")
      ->capture_default_str();
  sub->add_option("--report-num-predict", args->report_num_predict,
                  "output cap of the report call (both agents)")
      ->capture_default_str();
  sub->add_option("--fact-budget", args->fact_budget_chars, "characters of facts per prompt")
      ->capture_default_str();
  sub->add_option("--dummy-size", args->dummy_size,
                  "gemma3 size of the dummy-weight fallback model (270m, 1b, 4b)")
      ->capture_default_str();
  sub->add_option("--equivalence", args->equivalence,
                  "equivalence margin relative to the baseline (\"5%\" or 0.05): adds a TOST "
                  "verdict per metric to the comparison");
  sub->add_option("--prose-calls", args->prose_calls,
                  "how the model's prose is asked for: one (one call returns every section) or "
                  "per-section (one call per section)")
      ->capture_default_str();
  sub->add_flag("--show-raw", args->show_raw,
                "put a section's failed model text inline too (it is always quoted in the "
                "Validation appendix)");
  default_from_config(
      sub->add_option("--db", args->db, "results database (default: data_dir()/results.db)"),
      args->db, "db");
  sub->add_flag("--no-store", args->no_store, "do not write the results database");
  sub->add_flag("--no-hwmon", args->no_hwmon, "do not sample CPU, memory and GPU");
  sub->add_option("--timeout", args->timeout_s, "longest silence tolerated in a call, seconds")
      ->check(CLI::Range(0.1, 86'400.0))
      ->capture_default_str();
  sub->add_option("--retry-budget", args->retry_budget_s,
                  "longest a request waits, in all, for a server answering 429 or 503 (rate "
                  "limited, or still loading its model), seconds; the retries are reported")
      ->check(CLI::Range(0.0, 86'400.0))
      ->capture_default_str();
  sub->callback([args] { set_exit_code(run_main(*args)); });
}

}  // namespace chimera::cli
