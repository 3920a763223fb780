#include "agent/agent_run.h"

#include <fmt/format.h>

#include <map>

#include "agent/column_names.h"
#include "agent/section_notes.h"
#include "lab/bench_runner.h"
#include "lab/metrics.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

std::optional<Unit> option_unit(std::string_view name) {
  if (name == "num_ctx" || name == "num_predict" || name == "num_batch" ||
      name == "repeat_last_n") {
    return parse_unit("tokens");
  }
  if (name == "num_gpu") return parse_unit("layers");  // layers offloaded, never a GPU count
  if (name == "num_thread") return parse_unit("threads");
  return std::nullopt;
}

// A value the backend kept as a float ("0.800000011920929") printed as it was set ("0.8").
std::string tidy_value(const std::string& text) {
  auto v = parse_double(text);
  if (!v || text.size() < 10) return text;
  float f = static_cast<float>(*v);
  if (static_cast<double>(f) != *v) return text;
  return fmt::format("{}", f);
}

int decimals_of_text(std::string_view text) {
  size_t dot = text.find('.');
  return dot == std::string_view::npos ? 0 : static_cast<int>(text.size() - dot - 1);
}

void set_line(std::vector<ConfigLine>& lines, const std::string& name, const std::string& value,
              const std::string& source) {
  for (auto& l : lines) {
    if (l.name == name) {
      l.value = value;
      l.source = source;
      return;
    }
  }
  lines.push_back({name, value, source, ""});
}

}  // namespace

const AgentExecution* AgentRunResult::final_execution(const std::string& arm) const {
  for (auto it = executions.rbegin(); it != executions.rend(); ++it) {
    if (it->arm == arm && it->ok) return &*it;
  }
  return nullptr;
}

std::vector<ConfigLine> configuration_lines(const llm::Options& sent,
                                            const llm::CallRecord* record) {
  std::map<std::string, std::string> sent_items, applied_items;
  for (auto& [k, v] : sent.items()) sent_items[k] = v;
  if (record) {
    for (auto& [k, v] : record->options_applied.items()) applied_items[k] = v;
  }
  std::vector<ConfigLine> lines;
  for (std::string_view name_view : llm::option_names()) {
    std::string name(name_view);
    if (auto it = sent_items.find(name); it != sent_items.end()) {
      lines.push_back({name, it->second, "sent", ""});
    } else if (auto applied = applied_items.find(name); applied != applied_items.end()) {
      std::string source = "backend default";
      if (record) {
        if (auto s = record->option_sources.find(name); s != record->option_sources.end())
          source = s->second;
      }
      lines.push_back({name, tidy_value(applied->second), source, ""});
    } else {
      lines.push_back({name, "", "backend default", ""});
    }
  }
  return lines;
}

void add_configuration_facts(FactsTable& facts, std::vector<ConfigLine>& lines) {
  for (auto& line : lines) {
    auto number = parse_double(line.value);
    if (line.value.empty() || !number) continue;
    Fact f;
    f.kind = FactKind::kConfig;
    f.value = *number;
    f.decimals = decimals_of_text(line.value);
    f.unit = option_unit(line.name);
    f.metric = line.name;
    f.label = "option in force (" + line.source + ")";
    line.fact_id = facts.add(std::move(f)).id;
  }
}

void add_expected_facts(FactsTable& facts, const Profile& profile) {
  for (const auto& e : profile.expected) {
    Fact f;
    f.kind = FactKind::kExpected;
    f.value = e.value;
    f.decimals = e.decimals;
    f.unit = e.unit;
    f.metric = classify_column(e.metric).metric;
    f.label = fmt::format("expected for profile {}, not measured by this run", profile.name);
    f.source.note = profile.expected_source;
    facts.add(std::move(f));
  }
}

void add_measured_facts(FactsTable& facts, const llm::CallRecord& record, const std::string& what) {
  lab::CallMetrics metrics = lab::compute_call_metrics(record);
  struct Item {
    std::string_view lab_name;
    const char* metric;
    const char* unit;
    int decimals;
  };
  for (const Item& item :
       {Item{lab::kTtftMs, "ttft", "ms", 1}, Item{lab::kDecodeTps, "decode_tps", "tok/s", 2},
        Item{lab::kPrefillTps, "prefill_tps", "tok/s", 2}, Item{lab::kE2eMs, "latency", "ms", 1},
        Item{lab::kLoadMs, "load", "ms", 1}}) {
    const lab::MetricValue* v = metrics.find(item.lab_name);
    if (!v) continue;
    Fact f;
    f.kind = FactKind::kMeasured;
    f.value = v->value;
    f.decimals = item.decimals;
    f.unit = parse_unit(item.unit);
    f.metric = item.metric;
    f.label = fmt::format("{}, {} ({}; {})", what, item.lab_name, provenance_name(v->provenance),
                          v->source);
    facts.add(std::move(f));
  }
  auto add_count = [&](int64_t n, const char* metric, const std::string& label) {
    Fact f;
    f.kind = FactKind::kMeasured;
    f.value = static_cast<double>(n);
    f.unit = parse_unit("tokens");
    f.metric = metric;
    f.label = label;
    facts.add(std::move(f));
  };
  if (record.token_count > 0) {
    add_count(record.token_count, "output_tokens", what + ", generated tokens");
  }
  if (record.prompt_tokens)
    add_count(*record.prompt_tokens, "prompt_tokens", what + ", prompt tokens");
}

AgentRunner::AgentRunner(llm::Backend& backend, RunSettings settings, std::vector<ArmSetup> arms,
                         const IngestResult& ingest, const FactsTable& base_facts)
    : backend_(backend),
      settings_(std::move(settings)),
      arms_(std::move(arms)),
      ingest_(ingest),
      base_facts_(base_facts) {}

int64_t AgentRunner::total_calls() const {
  int64_t arms = static_cast<int64_t>(arms_.size());
  int64_t report_calls = settings_.prose_calls == ProseCalls::kOne
                             ? 1
                             : static_cast<int64_t>(prose_section_titles().size());
  return arms + static_cast<int64_t>(settings_.runs) * arms * (1 + report_calls);
}

PromptContext AgentRunner::context_for(const ArmSetup& arm, const FactsTable& facts,
                                       const std::vector<ConfigLine>& configuration) const {
  PromptContext c;
  c.ingest = &ingest_;
  c.facts = &facts;
  c.today_iso = settings_.today_iso;
  c.arm = arm.name;
  c.profile_name = arm.profile.name;
  c.model = settings_.model.empty() ? backend_.name() : settings_.model;
  c.synthetic_model = settings_.synthetic_model;
  c.configuration = configuration;
  c.fact_budget_chars = settings_.fact_budget_chars;
  c.json_output = backend_.capabilities().structured_output;
  if (!findings_.empty()) {
    for (auto& notes : data_section_notes(findings_, configuration)) {
      c.section_notes.emplace_back(notes.title, std::move(notes.lines));
    }
  }
  return c;
}

int64_t prompt_tokens_or_estimate(llm::Backend& backend, const RunSettings& settings,
                                  const Prompt& prompt) {
  llm::Request probe;
  probe.model = settings.model;
  probe.messages = prompt.messages;
  return backend.count_prompt_tokens(probe).value_or(static_cast<int64_t>(prompt.chars() / 3) + 64);
}

lab::MeasuredCall send_measured_call(llm::Backend& backend, llm::Request request,
                                     const RunSettings& settings,
                                     const std::function<bool()>& should_stop, lab::CallMeta meta,
                                     const std::string& arm, int64_t seq) {
  request.model = settings.model;
  request.stream = true;
  request.read_timeout_ms = settings.read_timeout_ms;
  request.retry_budget_ms = settings.retry_budget_ms;
  if (should_stop) request.cancelled = should_stop;
  lab::MeasuredCall mc;
  mc.meta = std::move(meta);
  mc.meta.arm = arm;
  mc.meta.seq = seq;
  mc.record = backend.generate(request);
  if (settings.synthetic_model) mc.record.synthetic_model = true;
  return mc;
}

llm::Options AgentRunner::options_for(const ArmSetup& arm, const Prompt& prompt,
                                      int64_t num_predict, std::optional<int64_t> seed) const {
  llm::Options o = arm.profile.options;
  if (arm.profile.num_ctx_auto) {
    o.num_ctx = auto_num_ctx(prompt_tokens_or_estimate(backend_, settings_, prompt), num_predict);
  }
  o.num_predict = num_predict;  // the same cap for both arms, whatever the profile says
  if (seed) o.seed = *seed;
  return o;
}

lab::MeasuredCall AgentRunner::call(const ArmSetup& arm, const Prompt& prompt, llm::Options options,
                                    lab::CallMeta meta, const std::string& detail,
                                    std::optional<std::string> output_schema) {
  llm::Request request;
  request.output_schema = std::move(output_schema);
  request.messages = prompt.messages;
  request.options = std::move(options);
  lab::MeasuredCall mc = send_measured_call(backend_, std::move(request), settings_, should_stop_,
                                            std::move(meta), arm.name, seq_++);
  ++done_;
  if (on_call_) on_call_(mc);
  if (on_progress_) on_progress_(done_, total_calls(), detail);
  return mc;
}

AgentExecution AgentRunner::execute(const ArmSetup& arm, size_t arm_index, int64_t pair,
                                    int64_t seed, AgentRunResult& result) {
  AgentExecution e;
  e.arm = arm.name;
  e.pair_index = pair;
  e.seed = seed;
  FactsTable facts = base_facts_;
  add_expected_facts(facts, arm.profile);
  // Without a warm-up (chimera tune warms each load up itself) the configuration is what is sent.
  std::vector<ConfigLine> lines = arm_index < configuration_.size()
                                      ? configuration_[arm_index]
                                      : configuration_lines(arm.profile.options, nullptr);
  set_line(lines, "seed", std::to_string(seed), "sent (per-pair seed, the same for both arms)");

  set_line(lines, "num_predict", std::to_string(settings_.analysis_num_predict),
           "sent (output cap of the analysis call, the same for both arms)");
  if (arm.profile.num_ctx_auto) set_line(lines, "num_ctx", "auto", "sent (sized from the prompt)");
  add_configuration_facts(facts, lines);
  size_t analysis =
      issue(arm, e, result, analysis_prompt(context_for(arm, facts, lines)), kAnalysisCall,
            e.pair_index, settings_.analysis_num_predict, "analysis", std::nullopt);
  if (!result.calls[analysis].record.ok) {
    e.error = "analysis call failed: " + result.calls[analysis].record.error;
    e.configuration = lines;
    e.facts = std::move(facts);
    return e;
  }
  // Reports show text, not bytes: a server's invalid UTF-8 appears as U+FFFD (the record keeps it).
  e.analysis_text = utf8_replace_invalid(result.calls[analysis].record.text);
  add_measured_facts(facts, result.calls[analysis].record,
                     fmt::format("this run's {} analysis call (pair {})", arm.name, pair + 1));

  e.configuration = lines;
  write_prose(arm, e, facts, lines, result);
  if (!e.error.empty()) {
    e.facts = std::move(facts);
    return e;
  }
  e.ok = true;
  ValidationContext vc;
  vc.facts = &facts;
  vc.today_iso = settings_.today_iso;
  vc.calls = e.call_checks;
  e.validation = validate_text(e.report_text, vc);
  validate_sections(e.sections, vc);
  e.facts = std::move(facts);
  return e;
}

size_t AgentRunner::issue(const ArmSetup& arm, AgentExecution& e, AgentRunResult& result,
                          const Prompt& prompt, int64_t kind, int64_t repetition, int64_t cap,
                          const std::string& what, std::optional<std::string> schema) {
  llm::Options options = options_for(arm, prompt, cap, e.seed);
  lab::CallMeta meta;
  meta.pair_index = e.pair_index;
  meta.prompt_index = kind;
  // Report calls of one pair are told apart by their section (same seed, same prompt per arm).
  meta.repetition = repetition;
  std::string detail = fmt::format("{} {} (pair {})", arm.name, what, e.pair_index + 1);
  result.calls.push_back(call(arm, prompt, options, meta, detail, std::move(schema)));
  const llm::CallRecord& r = result.calls.back().record;
  std::optional<int64_t> num_ctx = options.num_ctx ? options.num_ctx : r.options_applied.num_ctx;
  e.call_checks.push_back({what, r.prompt_truncated, r.prompt_tokens, num_ctx});
  // An index: result.calls grows, so references into it would not stay valid.
  return result.calls.size() - 1;
}

void AgentRunner::write_prose(const ArmSetup& arm, AgentExecution& e, FactsTable& facts,
                              const std::vector<ConfigLine>& lines_in, AgentRunResult& result) {
  const bool per_section = settings_.prose_calls == ProseCalls::kPerSection;
  const std::vector<std::string>& titles = prose_section_titles();
  const int64_t cap = per_section ? std::max<int64_t>(16, settings_.report_num_predict /
                                                              static_cast<int64_t>(titles.size()))
                                  : settings_.report_num_predict;
  // The report call has its own output cap, so num_predict gets a fact of its own.
  std::vector<ConfigLine> lines = lines_in;
  set_line(lines, "num_predict", std::to_string(cap),
           per_section ? "sent (output cap of each section call, the same for both arms)"
                       : "sent (output cap of the report call, the same for both arms)");
  for (auto& l : lines) {
    if (l.name != "num_predict") continue;
    std::vector<ConfigLine> one = {l};
    one[0].fact_id.clear();
    add_configuration_facts(facts, one);
    l = one[0];
  }
  e.configuration = lines;
  const bool json = backend_.capabilities().structured_output;
  e.prose_format = json ? ProseFormat::kJson : ProseFormat::kFreeText;
  PromptContext context = context_for(arm, facts, lines);
  if (!per_section) {
    std::optional<std::string> schema;
    if (json) schema = all_sections_schema();
    const llm::CallRecord& r =
        result
            .calls[issue(arm, e, result, report_prompt(context, e.analysis_text), kReportCall, 0,
                         cap, "report", schema)]
            .record;
    if (!r.ok) {
      e.error = "report call failed: " + r.error;
      return;
    }
    // A server's invalid UTF-8 is shown as U+FFFD in reports (the record keeps the bytes).
    e.report_text = utf8_replace_invalid(r.text);
    e.sections = read_sections(e.report_text, e.prose_format, titles);
    return;
  }
  for (size_t i = 0; i < titles.size(); ++i) {
    std::optional<std::string> schema;
    if (json) schema = one_section_schema();
    const llm::CallRecord& r =
        result
            .calls[issue(arm, e, result, section_prompt(context, e.analysis_text, titles[i]),
                         kReportCall, static_cast<int64_t>(i), cap, "report: " + titles[i], schema)]
            .record;
    if (!r.ok) {
      e.error = fmt::format("report call for {} failed: {}", titles[i], r.error);
      return;
    }
    SectionProse section =
        read_one_section(utf8_replace_invalid(r.text), e.prose_format, titles[i]);
    e.report_text += "## " + titles[i] + "\n\n" + section.text + "\n\n";
    e.sections.push_back(std::move(section));
  }
}

bool AgentRunner::warm_up(AgentRunResult& result) {
  configuration_.assign(arms_.size(), {});
  // Warm-ups: load the model and fill caches for each arm's options; excluded from statistics.
  for (size_t i = 0; i < arms_.size(); ++i) {
    const ArmSetup& arm = arms_[i];
    Prompt prompt = warmup_prompt();
    lab::CallMeta meta;
    meta.warmup = true;
    meta.prompt_index = kAnalysisCall;
    llm::Options options =
        options_for(arm, prompt, settings_.warmup_num_predict, lab::pair_seed(settings_.seed, 0));
    result.calls.push_back(call(arm, prompt, options, meta, arm.name + " warm-up"));
    // What the backend says it applied tells the "backend default" values of this arm.
    llm::Options profile_sent = arm.profile.options;
    configuration_[i] = configuration_lines(profile_sent, &result.calls.back().record);
    if (should_stop_ && should_stop_()) {
      result.cancelled = true;
      break;
    }
  }
  result.arm_configuration = configuration_;
  return !result.cancelled;
}

AgentRunResult AgentRunner::run() {
  AgentRunResult result;
  Stopwatch watch;
  warm_up(result);
  for (int64_t pair = 0; pair < settings_.runs && !result.cancelled; ++pair) {
    int64_t seed = lab::pair_seed(settings_.seed, pair);
    // The first arm alternates: pair 0 runs arm 0 first, pair 1 arm 1 first, and so on.
    std::vector<size_t> order;
    for (size_t i = 0; i < arms_.size(); ++i)
      order.push_back((i + static_cast<size_t>(pair)) % arms_.size());
    for (size_t i : order) {
      if (should_stop_ && should_stop_()) {
        result.cancelled = true;
        break;
      }
      result.executions.push_back(execute(arms_[i], i, pair, seed, result));
    }
  }
  result.wall_ns = watch.elapsed_ns();
  return result;
}

}  // namespace chimera::agent
