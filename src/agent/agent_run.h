// The main job's measurement loop: two agents (baseline and Chimera profiles) run the same two-call
// workflow (analysis, then report) on the same facts, through one llm::Backend.
//
// Fairness (prior-system.md #6): one warm-up call per arm first (excluded from statistics); then
// `runs` pairs, interleaved, the first arm alternating from pair to pair (BA AB BA ...); both
// executions of a pair use the same seed; both arms use the same output caps (num_predict per call
// kind) whatever their profiles say.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/facts.h"
#include "agent/findings.h"
#include "agent/ingest.h"
#include "agent/profiles.h"
#include "agent/prompts.h"
#include "agent/report_sections.h"
#include "agent/validator.h"
#include "lab/call_meta.h"
#include "llm/backend.h"

namespace chimera::agent {

inline constexpr int64_t kAnalysisCall = 0;  // CallMeta::prompt_index of each call kind
inline constexpr int64_t kReportCall = 1;

struct ArmSetup {
  std::string name;  // "baseline", "chimera": also CallMeta::arm
  Profile profile;
};

struct RunSettings {
  std::string model;  // the model requests name ("" for the embedded engine)
  bool synthetic_model = false;
  int runs = 3;
  uint64_t seed = 42;
  int64_t analysis_num_predict = 128;  // the output caps, the same for both arms
  int64_t report_num_predict = 320;
  int64_t warmup_num_predict = 8;
  size_t fact_budget_chars = 3500;
  std::string today_iso;
  // The report's prose: one call returning every section, or one call per section (each with that
  // section's notes, an output cap of report_num_predict / sections, CallMeta::repetition = the
  // section's index).
  ProseCalls prose_calls = ProseCalls::kOne;
  int64_t read_timeout_ms = 600'000;  // longest silence tolerated in a call
  int64_t retry_budget_ms = 120'000;  // longest wait, per request, for 429/503 answers
};

// The prompt's token count as the backend counts it, or ~3 characters per token where it cannot
// (an overestimate: the safe side when a context is sized from it).
int64_t prompt_tokens_or_estimate(llm::Backend& backend, const RunSettings& settings,
                                  const Prompt& prompt);

// Sends one call of an agent's workflow (streamed, with the settings' model, read timeout, retry
// budget and the stop flag) and returns it measured: its meta names the arm and sequence number,
// and the record is labelled synthetic when the settings' model has dummy weights.
lab::MeasuredCall send_measured_call(llm::Backend& backend, llm::Request request,
                                     const RunSettings& settings,
                                     const std::function<bool()>& should_stop, lab::CallMeta meta,
                                     const std::string& arm, int64_t seq);

// One arm's analysis + report within one pair.
struct AgentExecution {
  std::string arm;
  int64_t pair_index = 0;
  int64_t seed = 0;
  std::vector<ConfigLine> configuration;  // in force for this execution
  FactsTable facts;                       // base + configuration + expected + measured
  std::string analysis_text, report_text;
  std::vector<CallCheck> call_checks;
  ValidationReport validation;  // of the whole report text
  ProseFormat prose_format = ProseFormat::kFreeText;
  std::vector<SectionProse> sections;  // the model's prose per section, validated one by one
  bool ok = false;                     // both calls succeeded
  std::string error;
};

struct AgentRunResult {
  std::vector<lab::MeasuredCall> calls;    // every call, warm-ups included, in issue order
  std::vector<AgentExecution> executions;  // in issue order
  std::vector<std::vector<ConfigLine>> arm_configuration;  // per arm, as first observed
  int64_t wall_ns = 0;
  bool cancelled = false;
  // The last successful execution of an arm (its report is the arm's report), or nullptr.
  const AgentExecution* final_execution(const std::string& arm) const;
};

class AgentRunner {
 public:
  using OnCall = std::function<void(const lab::MeasuredCall&)>;
  using OnProgress = std::function<void(int64_t done, int64_t total, const std::string& detail)>;

  AgentRunner(llm::Backend& backend, RunSettings settings, std::vector<ArmSetup> arms,
              const IngestResult& ingest, const FactsTable& base_facts);
  void on_call(OnCall callback) { on_call_ = std::move(callback); }
  void on_progress(OnProgress callback) { on_progress_ = std::move(callback); }
  void should_stop(std::function<bool()> predicate) { should_stop_ = std::move(predicate); }
  // The data's findings (whose derived facts are in base_facts): each prompt gives the model the
  // program's notes per section. Without them the prompts ask for the sections from the facts.
  void set_findings(std::vector<DataFinding> findings) { findings_ = std::move(findings); }

  int64_t total_calls() const;
  AgentRunResult run();

  // The pieces of run(), for callers that schedule executions themselves (chimera agents runs one
  // arm per runner, alone and concurrently): warm_up() first (it learns each arm's configuration in
  // force), then any number of execute_one(). Without warm_up() (chimera tune warms each load up
  // itself), an execution reports the options sent and "backend default" for the rest. warm_up()
  // returns false when stopped.
  bool warm_up(AgentRunResult& result);
  AgentExecution execute_one(size_t arm_index, int64_t pair, int64_t seed, AgentRunResult& result) {
    return execute(arms_[arm_index], arm_index, pair, seed, result);
  }

 private:
  lab::MeasuredCall call(const ArmSetup& arm, const Prompt& prompt, llm::Options options,
                         lab::CallMeta meta, const std::string& detail,
                         std::optional<std::string> output_schema = std::nullopt);
  size_t issue(const ArmSetup& arm, AgentExecution& e, AgentRunResult& result, const Prompt& prompt,
               int64_t kind, int64_t repetition, int64_t cap, const std::string& what,
               std::optional<std::string> schema);
  void write_prose(const ArmSetup& arm, AgentExecution& e, FactsTable& facts,
                   const std::vector<ConfigLine>& lines, AgentRunResult& result);
  AgentExecution execute(const ArmSetup& arm, size_t arm_index, int64_t pair, int64_t seed,
                         AgentRunResult& result);
  PromptContext context_for(const ArmSetup& arm, const FactsTable& facts,
                            const std::vector<ConfigLine>& configuration) const;
  llm::Options options_for(const ArmSetup& arm, const Prompt& prompt, int64_t num_predict,
                           std::optional<int64_t> seed) const;

  llm::Backend& backend_;
  RunSettings settings_;
  std::vector<ArmSetup> arms_;
  const IngestResult& ingest_;
  const FactsTable& base_facts_;
  std::vector<std::vector<ConfigLine>> configuration_;  // per arm, from the warm-up's record
  OnCall on_call_;
  OnProgress on_progress_;
  std::function<bool()> should_stop_;
  std::vector<DataFinding> findings_;
  int64_t done_ = 0;
  int64_t seq_ = 0;
};

// The configuration in force for a call, option by option: sent values, and the values the backend
// reported applying for the rest (with where they came from), else "backend default".
std::vector<ConfigLine> configuration_lines(const llm::Options& sent,
                                            const llm::CallRecord* record);

// Facts for an arm: C facts for every known option value (updating `lines` with their ids), E facts
// for the profile's expected figures (with their source).
void add_configuration_facts(FactsTable& facts, std::vector<ConfigLine>& lines);
void add_expected_facts(FactsTable& facts, const Profile& profile);
// M facts from one measured call: TTFT, decode and prefill rates, tokens (tagged synthetic on dummy
// weights), labelled with `what` ("analysis call of this execution").
void add_measured_facts(FactsTable& facts, const llm::CallRecord& record, const std::string& what);

}  // namespace chimera::agent
