// chimera run: the main job. Ingests a benchmark-data folder, runs the baseline and Chimera agents
// (analysis + report each) in interleaved pairs through one backend, validates every report against
// the facts, compares the arms with statistics, and writes OUT/<timestamp>/{baseline,chimera,
// comparison}_report.md, report.html and metrics.json, plus rows in the results database. The
// flags are wiring only; the work is in agent/ (and the dummy-weight model in engine/synth).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/agent_run.h"
#include "agent/backend_choice.h"
#include "agent/run_outputs.h"
#include "cli/command.h"
#include "cli/configured.h"
#include "cli/run_support.h"
#include "lab/bench_output.h"
#include "lab/bench_session.h"
#include "lab/record_json.h"
#include "lab/store.h"
#include "llm/backend.h"
#include "util/clock.h"
#include "util/json_text.h"
#include "util/mapped_file.h"
#include "util/paths.h"
#include "util/strings.h"
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
void on_sigint(int) { g_interrupted = true; }

std::optional<int> local_port(const std::string& spec_text) {
  auto spec = llm::parse_backend_spec(spec_text);
  if (!spec.ok() || spec->kind == llm::BackendSpec::Kind::kEmbedded) return std::nullopt;
  size_t colon = spec->location.rfind(':');
  std::string host = spec->location.substr(spec->location.find("://") + 3);
  if (!starts_with(host, "127.0.0.1") && !starts_with(host, "localhost")) return std::nullopt;
  auto port = parse_int(std::string_view(spec->location).substr(colon + 1));
  return port ? std::optional<int>(static_cast<int>(*port)) : std::nullopt;
}

std::string model_label(llm::Backend& backend, const agent::BackendChoice& choice) {
  if (!choice.model.empty()) return choice.model;
  auto description = backend.describe("");
  if (description.ok() && !description->entry.name.empty()) {
    const std::string& name = description->entry.name;  // a GGUF path for the embedded engine
    return name.find('/') == std::string::npos ? name
                                               : std::filesystem::path(name).filename().string();
  }
  std::string spec = choice.spec;
  if (starts_with(spec, "embedded:"))
    return std::filesystem::path(spec.substr(9)).filename().string();
  return spec;
}

int run_main(const RunArgs& a) {
  if (a.runs < 2) {
    return report_error(
        Status(ErrorCode::kInvalidArgument,
               fmt::format("--runs {} is too few: statistics need at least 2 measured runs per arm",
                           a.runs)));
  }
  std::optional<double> equivalence;
  if (!a.equivalence.empty()) {
    auto margin = lab::parse_equivalence_margin(a.equivalence);
    if (!margin.ok()) return report_error(margin.status());
    equivalence = *margin;
  }
  auto prose_calls = agent::parse_prose_calls(a.prose_calls);
  if (!prose_calls.ok()) return report_error(prose_calls.status());
  auto ingest = agent::ingest_folder(a.data);
  if (!ingest.ok()) return report_error(ingest.status());
  agent::FactsTable facts = agent::build_facts(*ingest);
  std::printf("data: %s: %zu of %zu files ingested, %lld rows, %lld failed rows, %zu facts\n",
              ingest->root.c_str(), ingest->parsed_files(), ingest->files.size(),
              static_cast<long long>(ingest->total_rows()),
              static_cast<long long>(ingest->total_failure_rows()), facts.size());

  auto baseline = agent::find_profile(a.baseline);
  if (!baseline.ok()) return report_error(baseline.status());
  auto chimera = agent::find_profile(a.chimera);
  if (!chimera.ok()) return report_error(chimera.status());
  // The findings engine: what the data says, phrased by code, its derived figures added as facts.
  agent::FindingsContext findings_context;
  findings_context.profiles = {*chimera};
  std::vector<agent::DataFinding> data_findings =
      agent::build_findings(*ingest, facts, findings_context);
  std::printf("findings: %zu from the data\n", data_findings.size());

  agent::BackendProbes probes = agent::default_probes();
  std::string dummy_size = a.dummy_size;
  probes.dummy_model = [dummy_size] { return dummy_model(dummy_size); };
  auto choice = agent::choose_backend(a.backend, a.model, probes);
  if (!choice.ok()) return report_error(choice.status());
  for (const auto& t : choice->tried) std::printf("backend: tried %s\n", t.c_str());
  std::printf("backend: %s (%s)\n", choice->spec.c_str(), choice->reason.c_str());
  auto backend = llm::make_backend(choice->spec);
  if (!backend.ok()) return report_error(backend.status());
  // A server may serve a dummy-weight model too (chimera serve marks it): say so in every report.
  if (auto description = (*backend)->describe(choice->model);
      description.ok() && description->entry.synthetic) {
    choice->synthetic = true;
  }

  agent::RunDescription run;
  run.today_iso = today_iso_date();
  run.started_utc = iso_timestamp_utc(unix_time_ms());
  run.output_dir = a.out + "/" + compact_local_timestamp();
  run.data_dir = ingest->root;
  run.command_line = command_line("chimera run");
  run.backend = *choice;
  run.backend_name = (*backend)->name();
  run.model_label = model_label(**backend, *choice);
  run.settings.model = choice->model;
  run.settings.synthetic_model = choice->synthetic;
  run.settings.runs = a.runs;
  run.settings.seed = a.seed;
  run.settings.analysis_num_predict = a.analysis_num_predict;
  run.settings.report_num_predict = a.report_num_predict;
  run.settings.fact_budget_chars = a.fact_budget_chars;
  run.settings.today_iso = run.today_iso;
  run.settings.prose_calls = *prose_calls;
  run.findings = data_findings;
  run.base_facts = facts;
  run.show_raw = a.show_raw;
  run.settings.read_timeout_ms = static_cast<int64_t>(a.timeout_s * 1000);
  run.settings.retry_budget_ms = static_cast<int64_t>(a.retry_budget_s * 1000);
  run.arms = {{"baseline", *baseline}, {"chimera", *chimera}};
  run.machine = lab::machine_header();
  run.equivalence_margin = equivalence;
  if (!chimera->model_family.empty() &&
      run.model_label.find(chimera->model_family) == std::string::npos) {
    std::printf("note: profile %s was tuned for %s models; this run uses %s\n",
                chimera->name.c_str(), chimera->model_family.c_str(), run.model_label.c_str());
  }

  // The results store: a session, a configuration per arm, every call as it completes.
  std::unique_ptr<lab::ResultsStore> store;
  int64_t session_id = 0;
  std::map<std::string, int64_t> configuration_ids;
  std::vector<std::string> store_warnings;
  if (!a.no_store) {
    auto opened = lab::ResultsStore::open(a.db.empty() ? lab::ResultsStore::default_path() : a.db);
    if (opened.ok()) {
      store = std::move(*opened);
      lab::SessionInfo info;
      info.command = "run";
      info.args = run.command_line;
      info.host = run.machine.host;
      info.cpu = run.machine.cpu;
      info.cpu_features = run.machine.cpu_features;
      info.logical_cpus = run.machine.logical_cpus;
      info.build = run.machine.build;
      info.backend = choice->spec;
      info.model = run.model_label;
      info.started_unix_ms = unix_time_ms();
      auto id = store->begin_session(info);
      if (id.ok()) {
        session_id = *id;
        for (const auto& arm : run.arms) {
          auto cid = store->configuration_id(choice->spec, run.model_label, arm.profile.options);
          if (cid.ok()) configuration_ids[arm.name] = *cid;
        }
      } else {
        store_warnings.push_back(id.status().message());
        store.reset();
      }
    } else {
      store_warnings.push_back(opened.status().message());
    }
  }

  std::optional<lab::HardwareMonitor> monitor;
  if (!a.no_hwmon) {
    lab::MonitorOptions mo;
    mo.server_port = local_port(choice->spec);
    monitor.emplace(mo);
    monitor->start();
  }

  agent::AgentRunner runner(**backend, run.settings, run.arms, *ingest, facts);
  runner.set_findings(data_findings);
  if (!(*backend)->capabilities().structured_output) {
    std::printf(
        "prose: %s does not offer structured output; the model's sections are asked for "
        "as free text and split by headings (the reports say so)\n",
        (*backend)->name().c_str());
  }
  std::optional<term::ProgressBar> progress;
  runner.on_call([&](const lab::MeasuredCall& call) {
    if (!store) return;
    auto r = store->add_call(session_id, configuration_ids[call.meta.arm], call.meta, call.record);
    if (!r.ok()) store_warnings.push_back(r.status().message());
  });
  runner.on_progress([&](int64_t done, int64_t total, const std::string& detail) {
    if (!progress) progress.emplace("run", total);
    progress->update(done, detail);
  });
  runner.should_stop([] { return g_interrupted.load(); });
  g_interrupted = false;
  struct sigaction action {
  }, previous{};
  action.sa_handler = on_sigint;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &previous);
  if (progress) progress->update(0);
  agent::AgentRunResult result = runner.run();
  sigaction(SIGINT, &previous, nullptr);
  if (progress) progress->finish();

  std::vector<lab::HwSample> samples;
  lab::HwSummary hardware;
  if (monitor) {
    monitor->stop();
    samples = monitor->samples();
    hardware = monitor->summary();
  }
  agent::RunSummary summary = agent::summarize_run(run, result, hardware);
  auto outputs = agent::write_run_outputs(run.output_dir, run, result, summary, *ingest, samples);
  if (store) {
    if (Status s = store->add_hw_samples(session_id, samples); !s.is_ok())
      store_warnings.push_back(s.message());
    nlohmann::json stats;
    for (const auto& k : summary.kinds) stats[k.kind] = lab::report_summary_json(k.report);
    std::string status = result.cancelled ? "interrupted" : "completed";
    if (Status s = store->end_session(session_id, status, json_text(stats)); !s.is_ok())
      store_warnings.push_back(s.message());
  }
  for (const auto& w : store_warnings)
    std::fprintf(stderr, "chimera: warning: results store: %s\n", w.c_str());
  if (!outputs.ok()) return report_error(outputs.status());

  std::printf("\nreports: %s/\n", outputs->directory.c_str());
  for (const auto& f : outputs->files)
    std::printf("  %s\n", std::filesystem::path(f).filename().c_str());
  if (store)
    std::printf("results database: %s (session %lld)\n", store->path().c_str(),
                static_cast<long long>(session_id));
  for (const auto& k : summary.kinds) {
    for (const auto& c : k.report.comparisons) {
      if (c.metric == "decode_tps" || c.metric == "ttft_ms") {
        std::printf(
            "%s call: %s\n", k.kind.c_str(),
            lab::verdict_sentence(c, summary.alpha, summary.level, "chimera", "baseline").c_str());
      }
    }
  }
  size_t findings = 0;
  for (const auto& g : summary.grounding) {
    findings += g.findings;
    std::printf(
        "grounding %s: %zu of %zu numbers and dates grounded over %zu reports (mean score %s), %zu "
        "findings\n",
        g.arm.c_str(), g.grounded, g.checked, g.validated,
        g.mean_score() ? fmt::format("{:.1f}%", *g.mean_score() * 100).c_str() : "-", g.findings);
  }
  if (run.backend.synthetic) {
    std::printf(
        "note: dummy weights: the reports' text is not meaningful; the timings are real for this "
        "architecture on this machine\n");
  }
  std::fflush(stdout);

  size_t ok_executions = 0;
  for (const auto& e : result.executions) ok_executions += e.ok;
  if (result.cancelled) return 130;
  if (ok_executions == 0) {
    std::string first;
    for (const auto& e : result.executions) {
      if (!e.error.empty()) {
        first = e.error;
        break;
      }
    }
    return report_error(
        Status(ErrorCode::kUnavailable, "no agent execution succeeded; the first error: " + first));
  }
  if (a.strict && findings > 0) {
    std::fprintf(stderr,
                 "chimera: --strict: the validator found %zu problems in the reports (see the "
                 "Validation sections)\n",
                 findings);
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
