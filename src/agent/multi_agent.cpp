#include "agent/multi_agent.h"

#include <fmt/format.h>

#include <latch>
#include <thread>

#include "agent/role_call.h"
#include "lab/bench_runner.h"
#include "util/clock.h"

namespace chimera::agent {

// One agent over its own backend: a role's single call (RoleCaller), or chimera run's analysis +
// report workflow (AgentRunner with one arm).
struct MultiAgentRunner::Worker {
  std::unique_ptr<RoleCaller> caller;
  std::unique_ptr<AgentRunner> runner;
  AgentRunResult own;  // the runner's bookkeeping (its calls, configuration)
  std::vector<lab::MeasuredCall> caller_calls;
  int64_t concurrency = 1;            // CallMeta::concurrency of the calls it makes now
  std::string phase = "warm-up";      // for progress lines
  std::vector<size_t> current_calls;  // indices of the calls of the run in progress
  bool priming = false;               // its calls now are a priming pass: warm-up, unmeasured

  void warm_up() {
    if (caller) {
      caller->warm_up(caller_calls);
    } else {
      runner->warm_up(own);
    }
  }
  std::vector<ConfigLine> configuration() const {
    if (caller) return caller->configuration();
    return own.arm_configuration.empty() ? std::vector<ConfigLine>{} : own.arm_configuration[0];
  }
  AgentExecution execute(int64_t repetition, int64_t seed) {
    if (caller) return caller->execute_one(repetition, seed, caller_calls);
    return runner->execute_one(0, repetition, seed, own);
  }
};

const AgentPhaseRun* MultiAgentResult::final_run(size_t agent) const {
  const AgentPhaseRun* solo = nullptr;
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    if (it->agent != agent || !it->execution.ok) continue;
    if (it->concurrent) return &*it;
    if (!solo) solo = &*it;
  }
  return solo;
}

std::vector<const llm::CallRecord*> MultiAgentResult::phase_calls(bool concurrent) const {
  std::vector<const llm::CallRecord*> out;
  size_t n = agents.size();
  for (const auto& run : runs) {
    // With one agent the solo runs stand for both phases.
    if (run.concurrent != concurrent && !(n == 1 && !run.concurrent)) continue;
    for (size_t i : run.calls) out.push_back(&calls[i].record);
  }
  return out;
}

MultiAgentRunner::MultiAgentRunner(std::vector<AgentSpec> agents, MultiAgentSettings settings,
                                   const IngestResult& ingest, const FactsTable& facts)
    : settings_(std::move(settings)), ingest_(ingest), facts_(facts) {
  for (size_t i = 0; i < agents.size(); ++i) {
    const AgentSpec& a = agents[i];
    RunSettings rs;
    rs.model = settings_.model;
    rs.synthetic_model = settings_.synthetic_model;
    rs.runs = settings_.repetitions;
    rs.seed = settings_.seed;
    rs.analysis_num_predict = settings_.num_predict.value_or(a.role.analysis_num_predict);
    rs.report_num_predict = settings_.num_predict.value_or(a.role.num_predict);
    rs.warmup_num_predict = settings_.warmup_num_predict;
    rs.fact_budget_chars = settings_.fact_budget_chars;
    rs.today_iso = settings_.today_iso;
    rs.read_timeout_ms = settings_.read_timeout_ms;
    rs.retry_budget_ms = settings_.retry_budget_ms;
    auto worker = std::make_unique<Worker>();
    auto record_call = [this, i](const lab::MeasuredCall& call) { record(i, call); };
    auto stop = [this] { return stopping(); };
    if (a.role.workflow == Workflow::kSingle) {
      worker->caller =
          std::make_unique<RoleCaller>(*a.backend, std::move(rs), ArmSetup{a.name, a.profile},
                                       a.role.persona, a.role.task, facts_, ingest_);
      worker->caller->on_call(record_call);
      worker->caller->should_stop(stop);
    } else {
      worker->runner = std::make_unique<AgentRunner>(
          *a.backend, std::move(rs), std::vector<ArmSetup>{{a.name, a.profile}}, ingest_, facts_);
      worker->runner->on_call(record_call);
      worker->runner->should_stop(stop);
    }
    workers_.push_back(std::move(worker));
  }
  result_.agents = std::move(agents);
}

MultiAgentRunner::~MultiAgentRunner() = default;

int64_t MultiAgentRunner::total_calls() const {
  int64_t per_repetition = 0;
  for (const auto& a : result_.agents) per_repetition += a.role.calls_per_execution();
  int64_t phases = (result_.agents.size() == 1 ? 1 : 2) + (settings_.prime ? 1 : 0);
  return static_cast<int64_t>(result_.agents.size()) +
         settings_.repetitions * phases * per_repetition;
}

void MultiAgentRunner::record(size_t agent, const lab::MeasuredCall& call) {
  std::lock_guard lock(mutex_);
  Worker& w = *workers_[agent];
  lab::MeasuredCall mc = call;
  if (w.priming) mc.meta.warmup = true;
  mc.meta.seq = static_cast<int64_t>(result_.calls.size());  // one order across all agents
  mc.meta.concurrency = w.concurrency;
  const bool warmup = mc.meta.warmup;
  result_.calls.push_back(std::move(mc));
  if (!warmup) w.current_calls.push_back(result_.calls.size() - 1);
  ++done_;
  if (on_call_) on_call_(result_.calls.back());
  if (on_progress_) {
    on_progress_(done_, total_calls(),
                 fmt::format("{} {}{}", result_.agents[agent].name, w.phase,
                             call.record.ok ? "" : " (failed)"));
  }
}

AgentPhaseRun MultiAgentRunner::execute(size_t agent, int64_t repetition, bool concurrent) {
  Worker& w = *workers_[agent];
  {
    std::lock_guard lock(mutex_);
    w.concurrency = concurrent ? static_cast<int64_t>(workers_.size()) : 1;
    w.phase = fmt::format("repetition {} {}", repetition + 1,
                          w.priming    ? "priming"
                          : concurrent ? "concurrent"
                                       : "solo");
    w.current_calls.clear();
  }
  AgentPhaseRun run;
  run.agent = agent;
  run.repetition = repetition;
  run.concurrent = concurrent;
  run.start_ns = monotonic_ns();
  // The same seed in both phases of a repetition: solo and concurrent do the same work.
  run.execution = w.execute(repetition, lab::pair_seed(settings_.seed, repetition));
  run.end_ns = monotonic_ns();
  std::lock_guard lock(mutex_);
  run.calls = std::move(w.current_calls);
  w.current_calls.clear();
  for (size_t i : run.calls) {
    const llm::CallRecord& r = result_.calls[i].record;
    if (r.ok) run.tokens += r.token_count;
  }
  return run;
}

void MultiAgentRunner::solo_phase(int64_t repetition) {
  size_t n = workers_.size();
  for (size_t k = 0; k < n && !stopping(); ++k) {
    size_t agent = (k + static_cast<size_t>(repetition)) % n;  // the first agent rotates
    AgentPhaseRun run = execute(agent, repetition, false);
    std::lock_guard lock(mutex_);
    result_.runs.push_back(std::move(run));
  }
}

void MultiAgentRunner::concurrent_phase(int64_t repetition, bool priming) {
  if (stopping()) return;
  size_t n = workers_.size();
  if (priming) {
    std::lock_guard lock(mutex_);
    for (auto& w : workers_) w->priming = true;
  }
  std::vector<AgentPhaseRun> runs(n);
  std::latch start(static_cast<std::ptrdiff_t>(n));
  {
    std::vector<std::jthread> threads;
    for (size_t agent = 0; agent < n; ++agent) {
      threads.emplace_back([&, agent] {
        start.arrive_and_wait();  // released together
        runs[agent] = execute(agent, repetition, true);
      });
    }
  }  // joined
  std::lock_guard lock(mutex_);
  if (priming) {  // its calls are stored as warm-ups; its runs count in no statistic
    for (auto& w : workers_) w->priming = false;
    return;
  }
  for (auto& run : runs) result_.runs.push_back(std::move(run));
}

void MultiAgentRunner::close_repetition(int64_t repetition, bool concurrent_first) {
  std::lock_guard lock(mutex_);
  lab::RepetitionWalls walls;
  walls.repetition = repetition;
  walls.concurrent_first = concurrent_first;
  size_t n = result_.agents.size();
  walls.agents.resize(n);
  int64_t first_start = INT64_MAX, last_end = 0;
  for (size_t i = 0; i < n; ++i) walls.agents[i].agent = result_.agents[i].name;
  for (const AgentPhaseRun& run : result_.runs) {
    if (run.repetition != repetition) continue;
    lab::AgentWalls& a = walls.agents[run.agent];
    int64_t took = run.end_ns - run.start_ns;
    if (!run.concurrent) {
      a.solo_ns = took;
      a.solo_ok = run.execution.ok;
      a.solo_tokens = run.tokens;
      walls.sequential_ns += took;
    }
    if (run.concurrent || n == 1) {
      a.concurrent_ns = took;
      a.concurrent_ok = run.execution.ok;
      a.concurrent_tokens = run.tokens;
      first_start = std::min(first_start, run.start_ns);
      last_end = std::max(last_end, run.end_ns);
    }
  }
  walls.concurrent_ns = last_end > first_start ? last_end - first_start : 0;
  result_.repetitions.push_back(std::move(walls));
}

MultiAgentResult MultiAgentRunner::run() {
  result_.start_ns = monotonic_ns();
  for (size_t i = 0; i < workers_.size() && !stopping(); ++i) {
    workers_[i]->warm_up();
    std::lock_guard lock(mutex_);
    result_.configuration.push_back(workers_[i]->configuration());
  }
  const bool one = workers_.size() == 1;
  for (int64_t r = 0; r < settings_.repetitions && !stopping(); ++r) {
    // Alternating phase order across repetitions cancels drift between the phases.
    bool concurrent_first = !one && r % 2 == 1;
    // Primed with one agent too, so every agent count of a scaling study starts each repetition
    // from the same cache state.
    if (settings_.prime) concurrent_phase(r, /*priming=*/true);
    if (concurrent_first) concurrent_phase(r);
    solo_phase(r);
    if (!one && !concurrent_first) concurrent_phase(r);
    if (stopping()) break;  // a repetition cut short has no comparable walls
    close_repetition(r, concurrent_first);
  }
  result_.cancelled = stopping();
  result_.wall_ns = monotonic_ns() - result_.start_ns;
  return std::move(result_);
}

}  // namespace chimera::agent
