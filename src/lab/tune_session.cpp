#include "lab/tune_session.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lab/bench_session.h"
#include "lab/record_json.h"
#include "util/json_text.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

using json = nlohmann::json;

json configs_to_json(const std::vector<Configuration>& configs) {
  json out = json::array();
  for (const Configuration& c : configs) {
    out.push_back({{"label", c.label},
                   {"options", options_to_json(c.options)},
                   {"assignments", c.assignments},
                   {"equivalents", c.equivalents},
                   {"load_key", c.load_key}});
  }
  return out;
}

Result<std::vector<Configuration>> configs_from_json(const json& j) {
  std::vector<Configuration> out;
  try {
    for (const json& item : j) {
      Configuration c;
      c.label = item.at("label").get<std::string>();
      CHIMERA_ASSIGN_OR_RETURN(c.options, options_from_json(item.at("options")));
      c.assignments = item.at("assignments").get<std::vector<std::string>>();
      c.equivalents = item.at("equivalents").get<std::vector<std::string>>();
      c.load_key = item.at("load_key").get<std::string>();
      out.push_back(std::move(c));
    }
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kParseError, "the stored configurations are incomplete: {}", e.what());
  }
  return out;
}

json facts_to_json(const SpaceFacts& f) {
  json j = {{"cpu_only", f.cpu_only}, {"layer_source", f.layer_source}};
  j["layer_count"] = f.layer_count ? json(*f.layer_count) : json(nullptr);
  j["context_length"] = f.context_length ? json(*f.context_length) : json(nullptr);
  return j;
}

SpaceFacts facts_from_json(const json& j) {
  SpaceFacts f;
  f.cpu_only = j.value("cpu_only", false);
  f.layer_source = j.value("layer_source", std::string());
  if (j.contains("layer_count") && j["layer_count"].is_number()) f.layer_count = j["layer_count"].get<int64_t>();
  if (j.contains("context_length") && j["context_length"].is_number()) {
    f.context_length = j["context_length"].get<int64_t>();
  }
  return f;
}

// Writes calls and hardware samples as they come; after a failure it keeps the study going and says
// why storing stopped.
class StudyWriter {
 public:
  StudyWriter(ResultsStore* store, int64_t id, std::map<std::string, int64_t> configuration_ids)
      : store_(store), id_(id), configuration_ids_(std::move(configuration_ids)) {}
  void add_call(const MeasuredCall& call) {
    if (store_ == nullptr || failed_) return;
    auto r = store_->add_call(id_, configuration_ids_[call.meta.arm], call.meta, call.record);
    if (!r.ok()) fail(r.status());
  }
  void add_samples(const HardwareMonitor& monitor) {
    if (store_ == nullptr || failed_) return;
    std::vector<HwSample> fresh = monitor.samples_since(written_);
    if (fresh.empty()) return;
    if (Status s = store_->add_hw_samples(id_, fresh); !s.is_ok()) return fail(s);
    written_ += fresh.size();
  }
  std::vector<std::string> warnings;

 private:
  void fail(const Status& s) {
    failed_ = true;
    warnings.push_back(fmt::format("results store: {}; the study went on without storing (it cannot "
                                   "be resumed past this point)",
                                   s.message()));
    log::warn("{}", warnings.back());
  }
  ResultsStore* store_;
  int64_t id_;
  std::map<std::string, int64_t> configuration_ids_;
  size_t written_ = 0;
  bool failed_ = false;
};

// Peak resident memory of the model's process (the server's when one is monitored, else this one)
// over the hardware samples taken while each configuration's calls ran.
std::map<std::string, double> peak_rss_per_config(const std::vector<MeasuredCall>& calls,
                                                  const std::vector<HwSample>& samples) {
  std::map<std::string, double> out;
  if (samples.empty()) return out;
  for (const MeasuredCall& c : calls) {
    if (c.record.t_request_ns == 0 || c.record.t_done_ns == 0) continue;
    auto lo = std::lower_bound(samples.begin(), samples.end(), c.record.t_request_ns,
                               [](const HwSample& s, int64_t t) { return s.t_ns < t; });
    // The samples during the call, and the first one after it: a call shorter than the sampling
    // period still gets the memory it left behind.
    for (auto it = lo; it != samples.end(); ++it) {
      double rss = static_cast<double>(it->server ? it->server->rss_bytes : it->process.rss_bytes);
      double& peak = out[c.meta.arm];
      peak = std::max(peak, rss);
      if (it->t_ns > c.record.t_done_ns) break;
    }
  }
  return out;
}

void analyze(TuneSessionResult& out, const std::vector<HwSample>& samples) {
  AnalysisInput in;
  in.spec = &out.spec;
  in.configs = &out.configs;
  in.calls = &out.run.calls;
  in.calls_per_sample = out.calls_per_sample;
  in.rounds = out.run.rounds;
  in.not_tried = out.run.not_tried;
  in.peak_rss_bytes = peak_rss_per_config(out.run.calls, samples);
  in.synthetic = out.synthetic;
  out.analysis = analyze_study(in);
}

// A backend for replaying a stored study: it is never called (TuneStudy::replay_only).
class ReplayBackend final : public llm::Backend {
 public:
  explicit ReplayBackend(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  llm::BackendCapabilities capabilities() const override { return {}; }
  llm::CallRecord generate(const llm::Request&, const llm::OnText&) override {
    llm::CallRecord r;
    r.error = "a stored study is replayed without calls";
    r.error_code = ErrorCode::kInternal;
    return r;
  }
  Result<std::vector<llm::ModelEntry>> list_models() override { return std::vector<llm::ModelEntry>{}; }
  Result<llm::ModelDescription> describe(const std::string&) override {
    return Status(ErrorCode::kUnsupported, "a stored study has no live backend");
  }

 private:
  std::string name_;
};

// The workload's shape alone (calls per sample), for replays.
class ReplayWorkload final : public TuneWorkload {
 public:
  ReplayWorkload(std::string description, int calls) : description_(std::move(description)), calls_(calls) {}
  std::string description() const override { return description_; }
  int calls_per_sample() const override { return calls_; }
  void run_sample(llm::Backend&, const llm::Options&, int64_t, const std::map<int64_t, llm::CallRecord>&,
                  const std::function<bool(int64_t, llm::CallRecord)>&) override {}
  llm::CallRecord warm_up(llm::Backend& backend, const llm::Options&) override {
    return backend.generate(llm::Request{});
  }

 private:
  std::string description_;
  int calls_;
};

}  // namespace

Result<StoredStudy> load_study(ResultsStore& store, int64_t id) {
  CHIMERA_ASSIGN_OR_RETURN(SessionRow row, store.session(id));
  if (row.info.command != "tune") {
    return make_error(ErrorCode::kInvalidArgument,
                      "session {} in {} is a `chimera {}` session, not a tune study; `chimera "
                      "results list` shows the studies",
                      id, store.path(), row.info.command);
  }
  json header = json::parse(row.info.header_json, nullptr, false);
  if (!header.is_object() || !header.contains("study")) {
    return make_error(ErrorCode::kParseError, "study {} in {}: its stored header is not a study", id,
                      store.path());
  }
  StoredStudy s;
  s.id = id;
  s.status = row.status;
  CHIMERA_ASSIGN_OR_RETURN(s.spec, spec_from_json(header["study"]));
  CHIMERA_ASSIGN_OR_RETURN(s.configs, configs_from_json(header.value("configurations", json::array())));
  s.facts = facts_from_json(header.value("facts", json::object()));
  CHIMERA_ASSIGN_OR_RETURN(std::vector<StoredCall> calls, store.calls(id));
  for (StoredCall& c : calls) s.calls.push_back(std::move(c.call));
  std::sort(s.calls.begin(), s.calls.end(),
            [](const MeasuredCall& a, const MeasuredCall& b) { return a.meta.seq < b.meta.seq; });
  return s;
}

Status check_backend_takes(llm::Backend& backend, const std::vector<ParamAxis>& axes) {
  const bool cpu_only = backend.capabilities().cpu_only;
  std::vector<std::string> refused;
  for (const ParamAxis& axis : axes) {
    if (axis.name == "num_gpu" && cpu_only) continue;  // collapsed, not refused
    for (const std::string& value : axis.values) {
      llm::Options o;
      (void)o.set(axis.name, value);
      auto not_applied = backend.options_not_applied(o);
      if (auto it = not_applied.find(axis.name); it != not_applied.end()) {
        refused.push_back(fmt::format("{} ({})", axis.name, it->second));
        break;
      }
    }
  }
  if (refused.empty()) return Status::ok();
  return make_error(ErrorCode::kInvalidArgument,
                    "{} cannot apply {}: a study of it would measure the same configuration under "
                    "different names. Remove {} from the space, or tune a backend that takes {}",
                    backend.name(), join(refused, "; "), refused.size() == 1 ? "it" : "them",
                    refused.size() == 1 ? "it" : "them");
}

SpaceFacts space_facts(llm::Backend& backend, const std::string& model, bool* synthetic,
                       std::string* model_label) {
  SpaceFacts f;
  f.cpu_only = backend.capabilities().cpu_only;
  auto d = backend.describe(model);
  if (!d.ok()) {
    log::debug("tune: {} did not describe the model: {}", backend.name(), d.status().message());
    return f;
  }
  *synthetic = d->entry.synthetic ||
               (d->details.count("synthetic") && d->details.at("synthetic") == "true");
  if (!d->entry.name.empty()) *model_label = std::filesystem::path(d->entry.name).filename().string();
  if (auto it = d->details.find("n_layer"); it != d->details.end()) {
    if (auto n = parse_int(it->second); n && *n > 0) {
      f.layer_count = *n;
      f.layer_source = f.cpu_only ? "the GGUF" : "the server's model description";
    }
  }
  if (auto it = d->details.find("cpu_only"); it != d->details.end() && it->second == "true") {
    f.cpu_only = true;
  }
  f.context_length = d->context_length;
  return f;
}

Result<TuneSessionResult> run_tune_session(llm::Backend& backend, const TuneSessionOptions& options) {
  TuneSessionResult out;
  out.started_unix_ms = unix_time_ms();
  out.machine = machine_header();
  out.backend_name = backend.name();
  if (auto v = backend.version(); v.ok()) out.backend_version = *v;
  const bool resuming = options.resume.has_value();
  out.spec = resuming ? options.resume->spec : options.spec;
  CHIMERA_RETURN_IF_ERROR(validate_spec(out.spec));
  CHIMERA_RETURN_IF_ERROR(check_backend_takes(backend, out.spec.axes));
  out.model_label = out.spec.model.empty() ? backend.name() : out.spec.model;
  SpaceFacts live = space_facts(backend, out.spec.model, &out.synthetic, &out.model_label);
  if (resuming) {
    out.facts = options.resume->facts;
    out.configs = options.resume->configs;
  } else {
    out.facts = live;
    CHIMERA_ASSIGN_OR_RETURN(out.configs, expand_space(out.spec.axes, out.facts));
  }
  out.ignore_eos = out.spec.ignore_eos && backend.capabilities().ignore_eos;
  std::optional<PromptWorkload> prompts;
  TuneWorkload* workload = options.workload;
  if (workload == nullptr) workload = &prompts.emplace(out.spec, out.ignore_eos);
  out.workload = workload->description();
  out.calls_per_sample = workload->calls_per_sample();

  std::unique_ptr<ResultsStore> store;
  std::map<std::string, int64_t> configuration_ids;
  if (options.db_path) {
    CHIMERA_ASSIGN_OR_RETURN(store, ResultsStore::open(*options.db_path));
    out.db_path = store->path();
    if (resuming) {
      out.study_id = options.resume->id;
    } else {
      SessionInfo info = session_info(out.machine, "tune", options.command_line, out.spec.backend,
                                      out.model_label, out.started_unix_ms);
      json header = {{"study", spec_to_json(out.spec)},
                     {"configurations", configs_to_json(out.configs)},
                     {"facts", facts_to_json(out.facts)},
                     {"synthetic", out.synthetic},
                     {"ignore_eos", out.ignore_eos},
                     {"workload", out.workload}};
      info.header_json = json_text(header);
      CHIMERA_ASSIGN_OR_RETURN(out.study_id, store->begin_session(info));
    }
    for (const Configuration& c : out.configs) {
      CHIMERA_ASSIGN_OR_RETURN(configuration_ids[c.label],
                               store->configuration_id(out.backend_name, out.model_label, c.options));
    }
  }

  std::optional<HardwareMonitor> monitor;
  if (options.monitor_hardware) {
    monitor.emplace(options.monitor);
    monitor->start();
  }
  StudyWriter writer(store.get(), out.study_id.value_or(0), configuration_ids);
  TuneStudy study(backend, *workload, out.spec, out.configs);
  if (resuming) study.resume_from(options.resume->calls);
  study.on_call([&](const MeasuredCall& call) {
    writer.add_call(call);  // committed before the next call: kill -9 loses at most the one in flight
    if (monitor) writer.add_samples(*monitor);
  });
  if (options.on_progress) study.on_progress(options.on_progress);
  if (options.should_stop) study.should_stop(options.should_stop);
  if (options.on_plan) options.on_plan(out.spec, out.configs, study.planned_calls(), out.study_id);
  out.run = study.run();

  std::vector<HwSample> samples;
  if (monitor) {
    monitor->stop();
    samples = monitor->samples();
    out.hardware = monitor->summary();
    writer.add_samples(*monitor);
  }
  analyze(out, samples);
  out.ended_unix_ms = unix_time_ms();
  out.warnings = writer.warnings;
  if (store && out.study_id) {
    std::string status = out.run.cancelled ? "interrupted" : "completed";
    json summary = {{"best", out.analysis.best},
                    {"tied_for_best", out.analysis.tied},
                    {"measured_calls", out.analysis.measured_calls},
                    {"stop_reason", out.run.stop_reason}};
    if (Status s = store->end_session(*out.study_id, status, json_text(summary)); !s.is_ok()) {
      out.warnings.push_back("results store: " + s.message());
    }
  }
  return out;
}

Result<TuneSessionResult> load_tune_session(ResultsStore& store, int64_t id) {
  CHIMERA_ASSIGN_OR_RETURN(StoredStudy stored, load_study(store, id));
  CHIMERA_ASSIGN_OR_RETURN(SessionRow row, store.session(id));
  json header = json::parse(row.info.header_json, nullptr, false);
  TuneSessionResult out;
  out.spec = stored.spec;
  out.configs = stored.configs;
  out.facts = stored.facts;
  out.study_id = id;
  out.db_path = store.path();
  out.started_unix_ms = row.info.started_unix_ms;
  out.ended_unix_ms = row.ended_unix_ms.value_or(row.info.started_unix_ms);
  out.machine.host = row.info.host;
  out.machine.cpu = row.info.cpu;
  out.machine.cpu_features = row.info.cpu_features;
  out.machine.logical_cpus = static_cast<int>(row.info.logical_cpus);
  out.machine.build = row.info.build;
  out.backend_name = row.info.backend;
  out.model_label = row.info.model;
  out.synthetic = header.value("synthetic", false);
  out.ignore_eos = header.value("ignore_eos", false);
  out.workload = header.value("workload", std::string());
  out.calls_per_sample =
      out.spec.workload == "agent" ? 2 : static_cast<int>(std::max<size_t>(1, out.spec.prompts.size()));
  ReplayBackend backend(out.backend_name);
  ReplayWorkload workload(out.workload, out.calls_per_sample);
  TuneStudy study(backend, workload, out.spec, out.configs);
  study.resume_from(std::move(stored.calls));
  study.replay_only();
  out.run = study.run();
  if (row.status != "completed") {
    out.run.stop_reason = fmt::format("the study is {} (resume it with chimera tune --resume {})",
                                      row.status == "running" ? "unfinished" : row.status, id);
  }
  CHIMERA_ASSIGN_OR_RETURN(std::vector<HwSample> samples, store.hw_samples(id));
  analyze(out, samples);
  return out;
}

}  // namespace chimera::lab
