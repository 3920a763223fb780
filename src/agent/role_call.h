// The single-call workflow of a role (`chimera agents`, agent/roles.h): the role's persona and task
// over the same facts and configuration block as chimera run's calls (prompts.h role_prompt), one
// call per execution, its text validated like chimera run's report. The same warm-up as
// AgentRunner's comes first and tells the configuration in force. (The two-call workflow of
// chimera run is AgentRunner itself.)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "agent/agent_run.h"

namespace chimera::agent {

class RoleCaller {
 public:
  using OnCall = std::function<void(const lab::MeasuredCall&)>;

  // settings.report_num_predict caps the call; arm.name is CallMeta::arm.
  RoleCaller(llm::Backend& backend, RunSettings settings, ArmSetup arm, std::string persona,
             std::string task, const FactsTable& base_facts, const IngestResult& ingest);
  void on_call(OnCall callback) { on_call_ = std::move(callback); }
  void should_stop(std::function<bool()> predicate) { should_stop_ = std::move(predicate); }

  // One short call (excluded from statistics); false when stopped.
  bool warm_up(std::vector<lab::MeasuredCall>& calls);
  AgentExecution execute_one(int64_t repetition, int64_t seed,
                             std::vector<lab::MeasuredCall>& calls);
  const std::vector<ConfigLine>& configuration() const { return configuration_; }

 private:
  lab::MeasuredCall call(const Prompt& prompt, int64_t cap, int64_t seed, lab::CallMeta meta);

  llm::Backend& backend_;
  RunSettings settings_;
  ArmSetup arm_;
  std::string persona_, task_;
  const FactsTable& base_facts_;
  const IngestResult& ingest_;
  std::vector<ConfigLine> configuration_;
  OnCall on_call_;
  std::function<bool()> should_stop_;
  int64_t seq_ = 0;
};

}  // namespace chimera::agent
