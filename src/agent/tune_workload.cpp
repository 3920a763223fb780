#include "agent/tune_workload.h"

#include <fmt/format.h>

#include "lab/bench_runner.h"

namespace chimera::agent {

AgentTuneWorkload::AgentTuneWorkload(IngestResult ingest, RunSettings settings)
    : ingest_(std::move(ingest)), facts_(build_facts(ingest_)), settings_(std::move(settings)) {
  settings_.prose_calls = ProseCalls::kOne;  // two calls a sample, whatever the backend
}

std::string AgentTuneWorkload::description() const {
  return fmt::format("the analysis + report workflow of chimera run on {} ({} files, {} facts), "
                     "output caps {} and {} tokens",
                     ingest_.root, ingest_.parsed_files(), facts_.size(),
                     settings_.analysis_num_predict, settings_.report_num_predict);
}

void AgentTuneWorkload::run_sample(llm::Backend& backend, const llm::Options& options,
                                   int64_t sample_index, const std::map<int64_t, llm::CallRecord>& done,
                                   const std::function<bool(int64_t, llm::CallRecord)>& emit) {
  // A sample already given up on (its analysis failed, so no report call was made) stays so.
  if (auto it = done.find(kAnalysisCall); it != done.end() && !it->second.ok && done.size() == 1) return;
  ArmSetup arm;
  arm.name = "tuned";
  arm.profile.name = "tuned";
  arm.profile.origin = "chimera tune";
  arm.profile.options = options;
  AgentRunner runner(backend, settings_, {arm}, ingest_, facts_);
  bool go_on = true;
  runner.on_call([&](const lab::MeasuredCall& call) {
    if (go_on) go_on = emit(call.meta.prompt_index, call.record);
  });
  runner.should_stop([&] { return !go_on; });
  AgentRunResult result;
  runner.execute_one(0, sample_index, lab::pair_seed(settings_.seed, sample_index), result);
}

llm::CallRecord AgentTuneWorkload::warm_up(llm::Backend& backend, const llm::Options& options) {
  llm::Request r;
  r.model = settings_.model;
  r.prompt = "Reply with one word.";
  r.options = options;
  r.options.num_predict = settings_.warmup_num_predict;
  return backend.generate(r);
}

}  // namespace chimera::agent
