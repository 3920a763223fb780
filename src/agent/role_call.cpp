#include "agent/role_call.h"

#include <fmt/format.h>

#include <algorithm>

#include "lab/bench_runner.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

// Sets (or adds) the line of option `name` in the configuration in force.
void put_line(std::vector<ConfigLine>& lines, const std::string& name, std::string value,
              std::string source) {
  auto it =
      std::find_if(lines.begin(), lines.end(), [&](const ConfigLine& l) { return l.name == name; });
  if (it == lines.end()) it = lines.insert(lines.end(), ConfigLine{name, "", "", ""});
  it->value = std::move(value);
  it->source = std::move(source);
  it->fact_id.clear();
}

}  // namespace

RoleCaller::RoleCaller(llm::Backend& backend, RunSettings settings, ArmSetup arm,
                       std::string persona, std::string task, const FactsTable& base_facts,
                       const IngestResult& ingest)
    : backend_(backend),
      settings_(std::move(settings)),
      arm_(std::move(arm)),
      persona_(std::move(persona)),
      task_(std::move(task)),
      base_facts_(base_facts),
      ingest_(ingest) {}

lab::MeasuredCall RoleCaller::call(const Prompt& prompt, int64_t cap, int64_t seed,
                                   lab::CallMeta meta) {
  llm::Request request;
  request.messages = prompt.messages;
  // num_ctx = "auto" is sized from the prompt as chimera run sizes it.
  const int64_t tokens =
      arm_.profile.num_ctx_auto ? prompt_tokens_or_estimate(backend_, settings_, prompt) : 0;
  request.options = arm_.profile.resolved_options(tokens, cap);
  request.options.num_predict = cap;
  request.options.seed = seed;
  lab::MeasuredCall mc = send_measured_call(backend_, std::move(request), settings_, should_stop_,
                                            std::move(meta), arm_.name, seq_++);
  if (on_call_) on_call_(mc);
  return mc;
}

bool RoleCaller::warm_up(std::vector<lab::MeasuredCall>& calls) {
  lab::CallMeta meta;
  meta.warmup = true;
  meta.prompt_index = kReportCall;
  calls.push_back(
      call(warmup_prompt(), settings_.warmup_num_predict, lab::pair_seed(settings_.seed, 0), meta));
  // What the backend says it applied tells the "backend default" values.
  configuration_ = configuration_lines(arm_.profile.options, &calls.back().record);
  return !(should_stop_ && should_stop_());
}

AgentExecution RoleCaller::execute_one(int64_t repetition, int64_t seed,
                                       std::vector<lab::MeasuredCall>& calls) {
  AgentExecution e;
  e.arm = arm_.name;
  e.pair_index = repetition;
  e.seed = seed;
  FactsTable facts = base_facts_;
  add_expected_facts(facts, arm_.profile);
  std::vector<ConfigLine> lines = configuration_;
  put_line(lines, "seed", std::to_string(seed), "sent (per-repetition seed)");
  put_line(lines, "num_predict", std::to_string(settings_.report_num_predict),
           "sent (output cap of the role's call)");
  if (arm_.profile.num_ctx_auto) put_line(lines, "num_ctx", "auto", "sent (sized from the prompt)");
  add_configuration_facts(facts, lines);
  e.configuration = lines;

  PromptContext context;
  context.ingest = &ingest_;
  context.facts = &facts;
  context.today_iso = settings_.today_iso;
  context.arm = arm_.name;
  context.profile_name = arm_.profile.name;
  context.model = settings_.model.empty() ? backend_.name() : settings_.model;
  context.synthetic_model = settings_.synthetic_model;
  context.configuration = lines;
  context.fact_budget_chars = settings_.fact_budget_chars;
  lab::CallMeta meta;
  meta.pair_index = repetition;
  meta.prompt_index = kReportCall;
  meta.repetition = repetition;
  calls.push_back(
      call(role_prompt(context, persona_, task_), settings_.report_num_predict, seed, meta));
  const llm::CallRecord& r = calls.back().record;
  std::optional<int64_t> num_ctx =
      r.options_requested.num_ctx ? r.options_requested.num_ctx : r.options_applied.num_ctx;
  e.call_checks.push_back({"role call", r.prompt_truncated, r.prompt_tokens, num_ctx});
  if (!r.ok) {
    e.error = "the role's call failed: " + r.error;
    e.facts = std::move(facts);
    return e;
  }
  e.report_text = utf8_replace_invalid(r.text);  // U+FFFD for a server's invalid UTF-8
  e.ok = true;
  ValidationContext vc;
  vc.facts = &facts;
  vc.today_iso = settings_.today_iso;
  vc.calls = e.call_checks;
  e.validation = validate_text(e.report_text, vc);
  e.facts = std::move(facts);
  return e;
}

}  // namespace chimera::agent
