// `chimera tune --workload agent`: one sample is one execution of the main job's workflow (the
// analysis call, then the report call) on a data folder, with the configuration's options, so a
// study measures what `chimera run` will do, not a synthetic prompt. A num_ctx too small for the
// workflow's prompts shows up as truncation (the backends flag it), never as a faster configuration.
// An interrupted sample is made again whole on --resume: the report call needs the analysis text
// of the same execution.
#pragma once

#include <string>

#include "agent/agent_run.h"
#include "agent/facts.h"
#include "agent/ingest.h"
#include "lab/tune_study.h"

namespace chimera::agent {

class AgentTuneWorkload final : public lab::TuneWorkload {
 public:
  // `settings` gives the model name and the output caps of the two calls; its seed is the study's.
  AgentTuneWorkload(IngestResult ingest, RunSettings settings);
  std::string description() const override;
  int calls_per_sample() const override { return 2; }  // analysis, report
  void run_sample(llm::Backend& backend, const llm::Options& options, int64_t sample_index,
                  const std::map<int64_t, llm::CallRecord>& done,
                  const std::function<bool(int64_t, llm::CallRecord)>& emit) override;
  llm::CallRecord warm_up(llm::Backend& backend, const llm::Options& options) override;

 private:
  IngestResult ingest_;
  FactsTable facts_;
  RunSettings settings_;
};

}  // namespace chimera::agent
