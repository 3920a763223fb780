#include "agent/main_job.h"

#include <filesystem>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lab/bench_output.h"
#include "lab/bench_session.h"
#include "lab/hwmon.h"
#include "lab/record_json.h"
#include "lab/store.h"
#include "util/clock.h"
#include "util/json_text.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

void say(const MainJob& job, const std::string& line) {
  if (job.say) job.say(line);
}

std::string model_label(llm::Backend& backend, const BackendChoice& choice) {
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

// The results store of one run: a session, a configuration per arm, every call as it completes.
// A store that cannot be opened or written is a warning: the run and its reports go on.
class RunStore {
 public:
  RunStore(const MainJob& job, const RunDescription& run) {
    if (job.no_store) return;
    auto opened =
        lab::ResultsStore::open(job.db.empty() ? lab::ResultsStore::default_path() : job.db);
    if (!opened.ok()) {
      warnings_.push_back(opened.status().message());
      return;
    }
    store_ = std::move(*opened);
    auto id = store_->begin_session(lab::session_info(
        run.machine, "run", run.command_line, run.backend.spec, run.model_label, unix_time_ms()));
    if (!id.ok()) {
      warnings_.push_back(id.status().message());
      store_.reset();
      return;
    }
    session_ = *id;
    for (const auto& arm : run.arms) {
      auto cid = store_->configuration_id(run.backend.spec, run.model_label, arm.profile.options);
      if (cid.ok()) configurations_[arm.name] = *cid;
    }
  }

  void add_call(const lab::MeasuredCall& call) {
    if (!store_) return;
    auto r = store_->add_call(session_, configurations_[call.meta.arm], call.meta, call.record);
    if (!r.ok()) warnings_.push_back(r.status().message());
  }

  void finish(const std::vector<lab::HwSample>& samples, const RunSummary& summary,
              bool cancelled) {
    if (!store_) return;
    if (Status s = store_->add_hw_samples(session_, samples); !s.is_ok())
      warnings_.push_back(s.message());
    nlohmann::json stats;
    for (const auto& k : summary.kinds) stats[k.kind] = lab::report_summary_json(k.report);
    if (Status s = store_->end_session(session_, cancelled ? "interrupted" : "completed",
                                       json_text(stats));
        !s.is_ok()) {
      warnings_.push_back(s.message());
    }
  }

  std::string path() const { return store_ ? store_->path() : std::string(); }
  int64_t session() const { return session_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  std::unique_ptr<lab::ResultsStore> store_;
  int64_t session_ = 0;
  std::map<std::string, int64_t> configurations_;
  std::vector<std::string> warnings_;
};

}  // namespace

Result<MainJobResult> run_main_job(const MainJob& job) {
  CHIMERA_ASSIGN_OR_RETURN(IngestResult ingest, ingest_folder(job.data));
  FactsTable facts = build_facts(ingest);
  say(job, fmt::format("data: {}: {} of {} files ingested, {} rows, {} failed rows, {} facts",
                       ingest.root, ingest.parsed_files(), ingest.files.size(), ingest.total_rows(),
                       ingest.total_failure_rows(), facts.size()));

  CHIMERA_ASSIGN_OR_RETURN(Profile baseline, find_profile(job.baseline));
  CHIMERA_ASSIGN_OR_RETURN(Profile chimera, find_profile(job.chimera));
  // The findings engine: what the data says, phrased by code, its derived figures added as facts.
  FindingsContext findings_context;
  findings_context.profiles = {chimera};
  std::vector<DataFinding> data_findings = build_findings(ingest, facts, findings_context);
  say(job, fmt::format("findings: {} from the data", data_findings.size()));

  CHIMERA_ASSIGN_OR_RETURN(BackendChoice choice,
                           choose_backend(job.backend, job.model, job.probes));
  for (const auto& t : choice.tried) say(job, "backend: tried " + t);
  say(job, fmt::format("backend: {} ({})", choice.spec, choice.reason));
  CHIMERA_ASSIGN_OR_RETURN(std::unique_ptr<llm::Backend> backend, llm::make_backend(choice.spec));
  // A server may serve a dummy-weight model too (chimera serve marks it): say so in every report.
  if (auto description = backend->describe(choice.model);
      description.ok() && description->entry.synthetic) {
    choice.synthetic = true;
  }

  MainJobResult out;
  RunDescription& run = out.run;
  run.today_iso = today_iso_date();
  run.started_utc = iso_timestamp_utc(unix_time_ms());
  run.output_dir = job.out + "/" + compact_local_timestamp();
  run.data_dir = ingest.root;
  run.command_line = job.command_line;
  run.backend = choice;
  run.backend_name = backend->name();
  run.model_label = model_label(*backend, choice);
  run.settings = job.settings;
  run.settings.model = choice.model;
  run.settings.synthetic_model = choice.synthetic;
  run.settings.today_iso = run.today_iso;
  run.findings = data_findings;
  run.base_facts = facts;
  run.show_raw = job.show_raw;
  run.arms = {{"baseline", baseline}, {"chimera", chimera}};
  run.machine = lab::machine_header();
  run.equivalence_margin = job.equivalence_margin;
  if (!chimera.model_family.empty() &&
      run.model_label.find(chimera.model_family) == std::string::npos) {
    say(job, fmt::format("note: profile {} was tuned for {} models; this run uses {}", chimera.name,
                         chimera.model_family, run.model_label));
  }

  RunStore store(job, run);
  std::optional<lab::HardwareMonitor> monitor;
  if (!job.no_hwmon) {
    lab::MonitorOptions mo;
    mo.server_port = llm::local_server_port(choice.spec);
    monitor.emplace(mo);
    monitor->start();
  }

  AgentRunner runner(*backend, run.settings, run.arms, ingest, facts);
  runner.set_findings(data_findings);
  if (!backend->capabilities().structured_output) {
    say(job, fmt::format("prose: {} does not offer structured output; the model's sections are "
                         "asked for as free text and split by headings (the reports say so)",
                         backend->name()));
  }
  runner.on_call([&](const lab::MeasuredCall& call) { store.add_call(call); });
  if (job.progress) runner.on_progress(job.progress);
  if (job.cancelled) runner.should_stop(job.cancelled);
  if (job.calls_starting) job.calls_starting();
  out.result = runner.run();
  if (job.calls_finished) job.calls_finished();

  std::vector<lab::HwSample> samples;
  lab::HwSummary hardware;
  if (monitor) {
    monitor->stop();
    samples = monitor->samples();
    hardware = monitor->summary();
  }
  out.summary = summarize_run(run, out.result, hardware);
  auto outputs = write_run_outputs(run.output_dir, run, out.result, out.summary, ingest, samples);
  store.finish(samples, out.summary, out.result.cancelled);
  if (job.store_warning) {
    for (const auto& w : store.warnings()) job.store_warning(w);
  }
  if (!outputs.ok()) return outputs.status();
  out.outputs = std::move(*outputs);
  out.database = store.path();
  out.session_id = store.session();
  for (const auto& g : out.summary.grounding) out.validator_findings += g.findings;
  for (const auto& e : out.result.executions) {
    out.ok_executions += e.ok;
    if (out.first_error.empty() && !e.error.empty()) out.first_error = e.error;
  }
  return out;
}

}  // namespace chimera::agent
