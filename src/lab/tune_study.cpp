#include "lab/tune_study.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "lab/bench_runner.h"
#include "lab/stats.h"
#include "util/strings.h"

namespace chimera::lab {

struct TuneStudy::Racer {
  const Configuration* config = nullptr;
  std::map<int64_t, std::map<int64_t, llm::CallRecord>> partial;  // sample -> call -> record
  std::set<int64_t> complete;
  int ok_samples = 0, failed_samples = 0;
  bool failed = false, eliminated = false;
  bool in_study() const { return !failed && !eliminated; }
  int64_t missing_below(int target) const {
    int64_t n = 0;
    for (int64_t s = 0; s < target; ++s) n += !complete.count(s);
    return n;
  }
};

int64_t tune_seed(uint64_t seed, int64_t sample_index, int64_t call_index) {
  return pair_seed(seed, sample_index * 1'000'003 + call_index);
}

PromptWorkload::PromptWorkload(const StudySpec& spec, bool ignore_eos)
    : prompts_(spec.prompts), num_predict_(spec.num_predict), seed_(spec.seed) {
  base_.model = spec.model;
  base_.read_timeout_ms = spec.timeout_ms;
  base_.retry_budget_ms = spec.retry_budget_ms;
  base_.ignore_eos = ignore_eos;
}

std::string PromptWorkload::description() const {
  return fmt::format("{} prompt{} per sample, {} generated tokens each", prompts_.size(),
                     prompts_.size() == 1 ? "" : "s", num_predict_);
}

llm::Request PromptWorkload::request(const llm::Options& options, int64_t prompt_index) const {
  llm::Request r = base_;
  r.prompt = prompts_[static_cast<size_t>(prompt_index)];
  r.options = options;
  r.options.num_predict = num_predict_;
  return r;
}

void PromptWorkload::run_sample(llm::Backend& backend, const llm::Options& options,
                                int64_t sample_index, const std::map<int64_t, llm::CallRecord>& done,
                                const std::function<bool(int64_t, llm::CallRecord)>& emit) {
  for (int64_t p = 0; p < static_cast<int64_t>(prompts_.size()); ++p) {
    if (done.count(p)) continue;
    llm::Request r = request(options, p);
    r.options.seed = tune_seed(seed_, sample_index, p);
    if (!emit(p, backend.generate(r))) return;
  }
}

llm::CallRecord PromptWorkload::warm_up(llm::Backend& backend, const llm::Options& options) {
  llm::Request r = request(options, 0);
  r.options.num_predict = std::min<int64_t>(num_predict_, 8);
  r.options.seed = tune_seed(seed_ ^ 0x77a3u, 0, 0);
  return backend.generate(r);
}

TuneStudy::TuneStudy(llm::Backend& backend, TuneWorkload& workload, StudySpec spec,
                     std::vector<Configuration> configs)
    : backend_(backend), workload_(workload), spec_(std::move(spec)), configs_(std::move(configs)) {}

std::vector<std::string> TuneStudy::drawn() const {
  std::vector<std::string> labels;
  for (const Configuration& c : configs_) labels.push_back(c.label);
  if (spec_.strategy != Strategy::kRandom) return labels;
  const int64_t per_config = int64_t{spec_.repeat} * workload_.calls_per_sample();
  const size_t k = static_cast<size_t>(
      std::clamp<int64_t>(spec_.budget.value_or(0) / per_config, 1, static_cast<int64_t>(labels.size())));
  SeededRng rng(spec_.seed ^ 0x7a11d0u);
  for (size_t i = labels.size(); i > 1; --i) std::swap(labels[i - 1], labels[rng.below(i)]);
  labels.resize(k);
  std::sort(labels.begin(), labels.end());
  return labels;
}

int64_t TuneStudy::planned_calls() const {
  int64_t total = static_cast<int64_t>(drawn().size()) * spec_.repeat * workload_.calls_per_sample();
  return spec_.budget ? std::min(total, *spec_.budget) : total;
}

bool TuneStudy::stopping() {
  if (!stopped_ && should_stop_ && should_stop_()) stopped_ = true;
  return stopped_;
}

void TuneStudy::emit(MeasuredCall call, StudyRun& run) {
  run.calls.push_back(std::move(call));
  ++run.new_calls;
  const MeasuredCall& c = run.calls.back();
  if (on_call_) on_call_(c);
  if (!c.meta.warmup) ++done_calls_;
  if (on_progress_) {
    on_progress_(done_calls_, planned_,
                 fmt::format("{}{}", c.meta.arm, c.meta.warmup ? " warm-up" : ""));
  }
}

void TuneStudy::run_sample(Racer& racer, int64_t index, int round, StudyRun& run) {
  std::map<int64_t, llm::CallRecord>& done = racer.partial[index];
  workload_.run_sample(backend_, racer.config->options, index, done,
                       [&](int64_t call_index, llm::CallRecord record) {
                         MeasuredCall m;
                         m.meta.arm = racer.config->label;
                         m.meta.seq = seq_++;
                         m.meta.repetition = index;
                         m.meta.prompt_index = call_index;
                         m.meta.pair_index = round;
                         m.record = std::move(record);
                         done[call_index] = m.record;
                         ++run.measured_calls;
                         emit(std::move(m), run);
                         return !stopping();
                       });
  // Fewer calls than a sample has: stopped in the middle (resume continues it), or the workload
  // gave it up after a failed call (a failed sample).
  const bool short_sample = static_cast<int>(done.size()) < workload_.calls_per_sample();
  if (short_sample && stopping()) return;
  const bool ok = !short_sample &&
                  std::all_of(done.begin(), done.end(), [](const auto& kv) { return kv.second.ok; });
  racer.partial.erase(index);
  racer.complete.insert(index);
  (ok ? racer.ok_samples : racer.failed_samples)++;
  if (racer.failed_samples >= 2 && racer.ok_samples == 0 && !racer.failed) {
    racer.failed = true;
    run.failed.push_back(racer.config->label);
  }
}

void TuneStudy::run_block(std::vector<Racer*>& block, int target, int round, StudyRun& run) {
  auto needs = [&](const Racer* r) { return r->in_study() && r->missing_below(target) > 0; };
  if (replay_only_ || std::none_of(block.begin(), block.end(), needs)) return;
  const Racer* first = *std::find_if(block.begin(), block.end(), needs);
  for (int w = 0; w < spec_.warmup && !stopping(); ++w) {
    MeasuredCall m;
    m.meta.arm = first->config->label;
    m.meta.seq = seq_++;
    m.meta.warmup = true;
    m.meta.repetition = round;
    m.meta.prompt_index = w;
    m.meta.pair_index = round;
    m.record = workload_.warm_up(backend_, first->config->options);
    emit(std::move(m), run);
  }
  const size_t n = block.size();
  for (int64_t s = 0; s < target; ++s) {
    for (size_t k = 0; k < n; ++k) {
      Racer& racer = *block[(k + static_cast<size_t>(s)) % n];  // turns rotate sample by sample
      if (!racer.in_study() || racer.complete.count(s)) continue;
      if (spec_.budget) {
        int64_t missing = workload_.calls_per_sample() -
                          static_cast<int64_t>(racer.partial.count(s) ? racer.partial[s].size() : 0);
        if (run.measured_calls + missing > *spec_.budget) {
          run.budget_spent = true;
          return;
        }
      }
      run_sample(racer, s, round, run);
      if (stopping()) return;
    }
  }
}

StudyRun TuneStudy::run() {
  StudyRun run;
  run.calls = stored_;
  for (const MeasuredCall& c : stored_) {
    if (!c.meta.warmup) ++run.measured_calls;
    seq_ = std::max(seq_, c.meta.seq + 1);
  }
  const int cps = workload_.calls_per_sample();
  std::vector<std::string> drawn_labels = drawn();
  std::set<std::string> drawn_set(drawn_labels.begin(), drawn_labels.end());
  std::map<std::string, Racer> racers;
  for (const Configuration& c : configs_) {
    if (!drawn_set.count(c.label)) {
      run.not_tried.push_back(c.label);
      continue;
    }
    racers[c.label].config = &c;
  }
  // What the stored calls already did.
  for (const auto& [label, samples] : collect_samples(run.calls, cps)) {
    auto it = racers.find(label);
    if (it == racers.end()) continue;
    Racer& racer = it->second;
    for (const auto& [index, sample] : samples) {
      if (sample.complete()) {
        racer.complete.insert(index);
        (sample.ok() ? racer.ok_samples : racer.failed_samples)++;
      } else {
        for (size_t k = 0; k < sample.calls.size(); ++k) {
          if (sample.calls[k] != nullptr)
            racer.partial[index][static_cast<int64_t>(k)] = sample.calls[k]->record;
        }
      }
    }
    if (racer.failed_samples >= 2 && racer.ok_samples == 0) {
      racer.failed = true;
      run.failed.push_back(label);
    }
  }
  planned_ = 0;
  for (const auto& [label, racer] : racers) {
    if (racer.in_study()) planned_ += racer.missing_below(spec_.repeat) * cps;
  }
  if (spec_.budget) planned_ = std::min(planned_, std::max<int64_t>(0, *spec_.budget - run.measured_calls));

  std::vector<int> targets;
  if (spec_.strategy == Strategy::kRace) {
    for (int t = spec_.race_first; t < spec_.repeat; t = std::min(2 * t, spec_.repeat)) targets.push_back(t);
  }
  targets.push_back(spec_.repeat);

  for (size_t round = 0; round < targets.size(); ++round) {
    const int target = targets[round];
    std::map<std::string, std::vector<Racer*>> blocks;  // by load key, sorted
    std::vector<std::string> racing;
    for (auto& [label, racer] : racers) {
      if (!racer.in_study()) continue;
      blocks[racer.config->load_key].push_back(&racer);
      racing.push_back(label);
    }
    std::vector<std::vector<Racer*>*> order;
    for (auto& [key, block] : blocks) order.push_back(&block);
    if (round % 2 == 1) std::reverse(order.begin(), order.end());
    for (auto* block : order) {
      run_block(*block, target, static_cast<int>(round), run);
      if (stopping() || run.budget_spent) break;
    }
    if (stopping()) {
      run.cancelled = true;
      run.stop_reason = "stopped before the study finished (resume it with --resume)";
      return run;
    }
    if (spec_.strategy == Strategy::kRace) {
      // The decision uses the samples of this round's size only, so a resumed study replays it.
      std::map<std::string, std::vector<double>> values;
      auto samples = collect_samples(run.calls, cps);
      for (const std::string& label : racing) {
        if (!racers[label].in_study()) continue;
        std::vector<double>& v = values[label];
        for (const auto& [index, sample] : samples[label]) {
          if (index >= target) continue;
          if (auto x = sample_value(sample, spec_.primary(), spec_.constraints)) v.push_back(*x);
        }
      }
      RaceRound r{static_cast<int>(round), target, racing,
                  // alpha split over the rounds: each round is another look at the data.
                  race_decision(values, spec_.primary().higher_is_better,
                                spec_.alpha / static_cast<double>(targets.size()))};
      for (const Elimination& e : r.decision.eliminated) {
        Racer& racer = racers[e.config];
        racer.eliminated = true;
        planned_ -= (racer.missing_below(spec_.repeat)) * cps;
      }
      run.rounds.push_back(std::move(r));
    }
    if (run.budget_spent) {
      run.stop_reason = fmt::format("the budget of {} measured calls was spent", *spec_.budget);
      return run;
    }
    size_t left = 0;
    for (const auto& [label, racer] : racers) left += racer.in_study();
    if (spec_.strategy == Strategy::kRace && left <= 1 && round + 1 < targets.size()) {
      run.stop_reason = fmt::format("one configuration was left after round {}", round + 1);
      return run;
    }
  }
  if (replay_only_) {
    run.stop_reason = "rebuilt from the results store (no call made)";
    return run;
  }
  run.stop_reason = spec_.strategy == Strategy::kRace
                        ? fmt::format("the configurations left reached {} samples each", spec_.repeat)
                        : fmt::format("every configuration measured has {} samples", spec_.repeat);
  return run;
}

}  // namespace chimera::lab
