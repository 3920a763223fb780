#include "lab/bench_session.h"

#include <unistd.h>

#include <map>

#include <fmt/format.h>

#include "lab/bench_output.h"
#include "util/build_info.h"
#include "util/clock.h"
#include "util/cpu.h"
#include "util/json_text.h"
#include "util/log.h"

namespace chimera::lab {
namespace {

std::string mode_text(const BenchPlan& plan) {
  if (!plan.concurrency.empty()) return "closed loop";
  if (!plan.rates_rps.empty()) return "open loop (Poisson arrivals)";
  return "sequential";
}

std::string threads_text(const BenchPlan& plan, int logical_cpus) {
  if (plan.arm_a.num_thread) return fmt::format("num_thread={} (sent)", *plan.arm_a.num_thread);
  return fmt::format("backend default (num_thread not sent; this machine has {} logical CPUs)",
                     logical_cpus);
}

// Stores calls and hardware samples as they come; after the first failure it keeps the run going
// and remembers why storing stopped.
class SessionWriter {
 public:
  SessionWriter(ResultsStore* store, int64_t session_id) : store_(store), session_id_(session_id) {}

  void set_configuration(const std::string& arm, int64_t id) { configurations_[arm] = id; }

  void add_call(const MeasuredCall& call) {
    if (store_ == nullptr || failed_) return;
    auto id = store_->add_call(session_id_, configurations_[call.meta.arm], call.meta, call.record);
    if (!id.ok()) fail(id.status());
  }

  void add_samples(const HardwareMonitor& monitor) {
    if (store_ == nullptr || failed_) return;
    std::vector<HwSample> fresh = monitor.samples_since(samples_written_);
    if (fresh.empty()) return;
    Status s = store_->add_hw_samples(session_id_, fresh);
    if (!s.is_ok()) return fail(s);
    samples_written_ += fresh.size();
  }

  std::vector<std::string> warnings() const { return warnings_; }

 private:
  void fail(const Status& s) {
    failed_ = true;
    warnings_.push_back(fmt::format("results store: {}; the run continued without storing", s.message()));
    log::warn("{}", warnings_.back());
  }
  ResultsStore* store_;
  int64_t session_id_;
  std::map<std::string, int64_t> configurations_;
  size_t samples_written_ = 0;
  bool failed_ = false;
  std::vector<std::string> warnings_;
};

}  // namespace

BenchHeader machine_header() {
  BenchHeader h;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) h.host = host;
  h.cpu = cpu_model_name();
  h.cpu_features = cpu_feature_string();
  h.logical_cpus = logical_cpu_count();
  h.physical_cores = physical_core_count();
  const BuildInfo& b = build_info();
  h.build = fmt::format("chimera {} ({}, {}, {})", b.version, b.git_commit, b.build_type, b.compiler);
  return h;
}

SessionInfo session_info(const BenchHeader& machine, std::string command, std::string args,
                         std::string backend, std::string model, int64_t started_unix_ms) {
  SessionInfo info;
  info.command = std::move(command);
  info.args = std::move(args);
  info.host = machine.host;
  info.cpu = machine.cpu;
  info.cpu_features = machine.cpu_features;
  info.logical_cpus = machine.logical_cpus;
  info.build = machine.build;
  info.backend = std::move(backend);
  info.model = std::move(model);
  info.started_unix_ms = started_unix_ms;
  return info;
}

Result<BenchSessionResult> run_bench_session(llm::Backend& backend,
                                             const BenchSessionOptions& options) {
  BenchRunner runner(backend, options.plan);
  BenchHeader header = machine_header();
  header.command_line = options.command_line;
  header.backend = options.backend_spec;
  header.backend_name = backend.name();
  if (auto version = backend.version(); version.ok()) header.backend_version = *version;
  header.model = options.plan.base.model;
  header.prompts = options.plan.prompts;
  header.runs = options.plan.runs;
  header.warmup = options.plan.warmup;
  header.mode = mode_text(options.plan);
  header.concurrency = options.plan.concurrency;
  header.rates_rps = options.plan.rates_rps;
  header.seed_base = options.plan.seed_base;
  header.threads = threads_text(options.plan, header.logical_cpus);
  header.started_unix_ms = unix_time_ms();
  header.equivalence_margin = options.equivalence_margin;

  std::optional<HardwareMonitor> monitor;
  if (options.monitor_hardware) {
    monitor.emplace(options.monitor);
    header.gpu_status = monitor->gpu_status();
    header.server_status = monitor->server_status();
  } else {
    header.gpu_status = "not monitored (--no-hwmon)";
    header.server_status = "not monitored (--no-hwmon)";
  }

  // A dry preparation fills the arms and warnings the header prints before anything runs.
  PreparedPlan prepared = prepare_plan(options.plan, backend.capabilities());
  header.arms = prepared.arms;
  header.ignore_eos = prepared.ignore_eos;
  header.warnings = prepared.warnings;

  std::unique_ptr<ResultsStore> store;
  int64_t session_id = 0;
  if (options.db_path) {
    CHIMERA_ASSIGN_OR_RETURN(store, ResultsStore::open(*options.db_path));
    SessionInfo info = session_info(header, "bench", header.command_line, header.backend,
                                    header.model, header.started_unix_ms);
    info.header_json = json_text(header_to_json(header));
    CHIMERA_ASSIGN_OR_RETURN(session_id, store->begin_session(info));
  }
  SessionWriter writer(store.get(), session_id);
  if (store) {
    for (const ArmSpec& arm : prepared.arms) {
      CHIMERA_ASSIGN_OR_RETURN(int64_t id,
                               store->configuration_id(header.backend_name, header.model, arm.options));
      writer.set_configuration(arm.label, id);
    }
  }

  const int64_t total = runner.total_calls();
  int64_t done = 0;
  runner.on_call([&](const MeasuredCall& call) {  // serialized by the runner
    writer.add_call(call);  // committed before the next call starts: kill -9 loses at most one
    if (monitor) writer.add_samples(*monitor);
    if (options.on_progress) options.on_progress(++done, total, call);
  });
  if (options.should_stop) runner.should_stop(options.should_stop);

  if (monitor) monitor->start();
  BenchRun run = runner.run();
  if (monitor) {
    monitor->stop();
    writer.add_samples(*monitor);
  }

  BenchSessionResult result;
  result.calls = std::move(run.calls);
  result.samples = monitor ? monitor->samples() : std::vector<HwSample>{};
  HwSummary hw = monitor ? monitor->summary() : HwSummary{};
  result.report = analyze(header, result.calls, hw);
  result.report.cancelled = run.cancelled;
  if (store) {
    result.report.session_id = session_id;
    result.report.db_path = store->path();
    bool any_ok = false;
    for (const MeasuredCall& c : result.calls) any_ok = any_ok || (!c.meta.warmup && c.record.ok);
    std::string status = run.cancelled ? "interrupted" : (any_ok ? "completed" : "failed");
    Status ended =
        store->end_session(session_id, status, json_text(report_summary_json(result.report)));
    if (!ended.is_ok()) {
      result.store_warnings.push_back(fmt::format("results store: {}", ended.message()));
    }
  }
  for (const std::string& w : writer.warnings()) result.store_warnings.push_back(w);
  return result;
}

Result<BenchSessionResult> load_bench_session(ResultsStore& store, int64_t session_id) {
  CHIMERA_ASSIGN_OR_RETURN(SessionRow row, store.session(session_id));
  BenchHeader header;
  if (!row.info.header_json.empty()) {
    auto parsed = nlohmann::json::parse(row.info.header_json, nullptr, false);
    auto from_json = header_from_json(parsed);
    if (from_json.ok()) header = std::move(*from_json);
  }
  if (header.backend.empty()) header.backend = row.info.backend;
  if (header.model.empty()) header.model = row.info.model;
  if (header.command_line.empty()) header.command_line = row.info.args;
  CHIMERA_ASSIGN_OR_RETURN(std::vector<StoredCall> stored, store.calls(session_id));
  CHIMERA_ASSIGN_OR_RETURN(std::vector<HwSample> samples, store.hw_samples(session_id));
  BenchSessionResult result;
  for (StoredCall& c : stored) result.calls.push_back(std::move(c.call));
  result.samples = std::move(samples);
  HwSummary hw = summarize_samples(result.samples);
  result.report = analyze(header, result.calls, hw);
  result.report.session_id = session_id;
  result.report.db_path = store.path();
  result.report.cancelled = row.status == "interrupted" || !row.ended_unix_ms;
  return result;
}

}  // namespace chimera::lab
