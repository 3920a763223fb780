// The loop behind `chimera tune`: which configuration runs when, through one llm::Backend.
//
// Order (reload-aware): configurations that share a load (the same num_ctx, num_gpu, num_batch,
// num_thread, ...) run as one block; each block starts with warm-up calls (excluded from statistics;
// their load time is the block's load_ms), so a reload never lands in a measured call. Within a block
// the configurations take turns sample by sample (c1 c2 c3, c2 c3 c1, ...), so drift spreads over all
// of them; the order of the blocks alternates from round to round.
//
// Strategies:
//   grid    every configuration gets `repeat` samples, in one round.
//   random  a seeded random subset of configurations, as many as the budget pays `repeat` samples for.
//   race    rounds of race_first, 2x, 4x, ... samples up to `repeat`: after each round every
//           configuration significantly worse than the round's best (race_decision: a pooled
//           t-test on log values, Holm over the round's comparisons, alpha split evenly over the
//           rounds since each is another look at the data) is dropped. The race ends when one configuration is left, when those left
//           have `repeat` samples (the leaders could not be told apart at that size), or when the
//           budget is spent.
// A configuration whose samples fail (two failed samples and no good one) is marked failed and not
// measured further; the study goes on.
//
// Resumable: given the calls already stored for the study (resume_from), it makes only the calls that
// are missing, replaying the race's decisions from the stored data; warm-ups are redone per block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lab/call_meta.h"
#include "lab/tune_analysis.h"
#include "lab/tune_spec.h"
#include "llm/backend.h"

namespace chimera::lab {

// What one sample of a configuration is.
class TuneWorkload {
 public:
  virtual ~TuneWorkload() = default;
  virtual std::string description() const = 0;  // "2 prompts, 64 tokens each"
  virtual int calls_per_sample() const = 0;
  // Makes the calls of sample `sample_index` that `done` (call index -> stored record) lacks, in
  // order, handing each to `emit`; stops early when `emit` returns false. Returning with calls
  // missing while the study goes on means the sample was given up (a failed call it depends on):
  // it counts as a failed sample.
  virtual void run_sample(llm::Backend& backend, const llm::Options& options, int64_t sample_index,
                          const std::map<int64_t, llm::CallRecord>& done,
                          const std::function<bool(int64_t call_index, llm::CallRecord record)>& emit) = 0;
  // One warm-up call (excluded from statistics) with these options: it pays any load.
  virtual llm::CallRecord warm_up(llm::Backend& backend, const llm::Options& options) = 0;
};

// The default workload: each prompt once per sample, num_predict tokens each (end-of-sequence
// ignored where the backend can), the seed of call k of sample s the same for every configuration.
class PromptWorkload final : public TuneWorkload {
 public:
  PromptWorkload(const StudySpec& spec, bool ignore_eos);
  std::string description() const override;
  int calls_per_sample() const override { return static_cast<int>(prompts_.size()); }
  void run_sample(llm::Backend& backend, const llm::Options& options, int64_t sample_index,
                  const std::map<int64_t, llm::CallRecord>& done,
                  const std::function<bool(int64_t, llm::CallRecord)>& emit) override;
  llm::CallRecord warm_up(llm::Backend& backend, const llm::Options& options) override;

 private:
  llm::Request request(const llm::Options& options, int64_t prompt_index) const;
  std::vector<std::string> prompts_;
  llm::Request base_;
  int64_t num_predict_;
  uint64_t seed_;
};

// The seed of call `call_index` of sample `sample_index`: the same for every configuration.
int64_t tune_seed(uint64_t seed, int64_t sample_index, int64_t call_index);

struct StudyRun {
  std::vector<MeasuredCall> calls;  // the stored ones (resume) first, then this run's
  std::vector<RaceRound> rounds;
  std::vector<std::string> not_tried;  // random search
  std::vector<std::string> failed;     // configurations given up on
  int64_t measured_calls = 0;          // over the whole study, resumed ones included
  int64_t new_calls = 0;               // made by this process (warm-ups included)
  bool cancelled = false;
  bool budget_spent = false;
  std::string stop_reason;
};

class TuneStudy {
 public:
  using OnCall = std::function<void(const MeasuredCall&)>;
  using OnProgress = std::function<void(int64_t done, int64_t planned, const std::string& detail)>;

  TuneStudy(llm::Backend& backend, TuneWorkload& workload, StudySpec spec,
            std::vector<Configuration> configs);
  // Calls stored by an earlier, interrupted run of this study.
  void resume_from(std::vector<MeasuredCall> stored) { stored_ = std::move(stored); }
  void on_call(OnCall callback) { on_call_ = std::move(callback); }
  void on_progress(OnProgress callback) { on_progress_ = std::move(callback); }
  void should_stop(std::function<bool()> predicate) { should_stop_ = std::move(predicate); }
  // Makes no call at all: the rounds and decisions are rebuilt from the stored calls alone (`chimera
  // results show` of a study).
  void replay_only() { replay_only_ = true; }

  // The configurations random search measures (all of them for grid and race).
  std::vector<std::string> drawn() const;
  // Measured calls the study makes at most (grid and random: exactly, unless calls fail).
  int64_t planned_calls() const;
  StudyRun run();

 private:
  struct Racer;
  bool stopping();
  void emit(MeasuredCall call, StudyRun& run);
  // Runs the block of one load: warm-ups, then samples [0, target) of each racer that lacks them.
  void run_block(std::vector<Racer*>& block, int target, int round, StudyRun& run);
  void run_sample(Racer& racer, int64_t index, int round, StudyRun& run);

  llm::Backend& backend_;
  TuneWorkload& workload_;
  StudySpec spec_;
  std::vector<Configuration> configs_;
  std::vector<MeasuredCall> stored_;
  OnCall on_call_;
  OnProgress on_progress_;
  std::function<bool()> should_stop_;
  int64_t seq_ = 0;
  int64_t planned_ = 0;
  int64_t done_calls_ = 0;
  bool stopped_ = false;
  bool replay_only_ = false;
};

}  // namespace chimera::lab
