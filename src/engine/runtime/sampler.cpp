#include <algorithm>
#include <cmath>
#include <random>

#include "engine/engine.h"

namespace chimera::engine {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bool by_logit_desc(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

}  // namespace

Sampler::Sampler(const SamplingOptions& options, int32_t n_vocab)
    : options_(options), n_vocab_(n_vocab) {
  uint64_t seed = options.seed ? *options.seed
                               : (uint64_t{std::random_device{}()} << 32 | std::random_device{}());
  rng_state_[0] = splitmix64(seed);
  rng_state_[1] = splitmix64(seed);
  candidates_.reserve(static_cast<size_t>(n_vocab));
  penalized_.assign(static_cast<size_t>(n_vocab), 0);
}

double Sampler::next_uniform() {  // xoroshiro128+
  uint64_t s0 = rng_state_[0], s1 = rng_state_[1];
  uint64_t result = s0 + s1;
  s1 ^= s0;
  rng_state_[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
  rng_state_[1] = (s1 << 37) | (s1 >> 27);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

// llama.cpp's penalty, which Ollama's llama-server path applies: each distinct token of the last
// repeat_last_n has its logit divided by the penalty when positive, multiplied when negative.
void Sampler::apply_repeat_penalty(float* logits, std::span<const int32_t> history) {
  const float penalty = options_.repeat_penalty;
  if (penalty == 1.0f || options_.repeat_last_n == 0 || history.empty()) return;
  size_t window = options_.repeat_last_n < 0
                      ? history.size()
                      : std::min(history.size(), static_cast<size_t>(options_.repeat_last_n));
  auto recent = history.subspan(history.size() - window);
  for (int32_t id : recent) {
    if (id < 0 || id >= n_vocab_ || penalized_[static_cast<size_t>(id)]) continue;
    penalized_[static_cast<size_t>(id)] = 1;
    float& l = logits[id];
    l = l > 0.0f ? l / penalty : l * penalty;
  }
  for (int32_t id : recent) {
    if (id >= 0 && id < n_vocab_) penalized_[static_cast<size_t>(id)] = 0;
  }
}

int32_t Sampler::sample(float* logits, std::span<const int32_t> history) {
  apply_repeat_penalty(logits, history);
  if (options_.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(logits, logits + n_vocab_) - logits);
  }
  candidates_.clear();
  size_t sorted = 0;  // length of the prefix known to be sorted by descending logit
  if (options_.top_k > 0 && options_.top_k < n_vocab_) {
    // One pass with a min-heap of the k best: almost every logit is rejected by one comparison with
    // the heap's smallest, so this costs ~n_vocab comparisons (262144 for Gemma), not a sort.
    const int32_t k = options_.top_k;
    for (int32_t i = 0; i < k; ++i) candidates_.emplace_back(logits[i], i);
    std::make_heap(candidates_.begin(), candidates_.end(), by_logit_desc);
    float threshold = candidates_.front().first;  // the worst of the k kept so far
    for (int32_t i = k; i < n_vocab_; ++i) {
      if (logits[i] < threshold) continue;
      std::pair<float, int32_t> c{logits[i], i};
      if (!by_logit_desc(c, candidates_.front())) continue;  // a tie loses to the lower id
      std::pop_heap(candidates_.begin(), candidates_.end(), by_logit_desc);
      candidates_.back() = c;
      std::push_heap(candidates_.begin(), candidates_.end(), by_logit_desc);
      threshold = candidates_.front().first;
    }
    std::sort_heap(candidates_.begin(), candidates_.end(), by_logit_desc);
    sorted = candidates_.size();
  } else {
    for (int32_t i = 0; i < n_vocab_; ++i) candidates_.emplace_back(logits[i], i);
  }
  auto begin = candidates_.begin();
  size_t n = candidates_.size();
  // Temperature then softmax (f32 probabilities, sum in double).
  const float inv_temp = 1.0f / std::max(options_.temperature, 1e-7f);
  float max_logit = -INFINITY;
  for (size_t i = 0; i < n; ++i) max_logit = std::max(max_logit, candidates_[i].first * inv_temp);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    float p = std::exp(candidates_[i].first * inv_temp - max_logit);
    candidates_[i].first = p;  // from here on, .first is a probability (order unchanged)
    sum += p;
  }
  for (size_t i = 0; i < n; ++i)
    candidates_[i].first = static_cast<float>(candidates_[i].first / sum);

  if (options_.top_p < 1.0f) {
    // Shortest prefix of the sorted list whose mass reaches top_p; sort only as far as needed.
    size_t want = std::max<size_t>(sorted, 64);
    for (;;) {
      want = std::min(want, n);
      if (sorted < want) {
        std::partial_sort(begin + static_cast<ptrdiff_t>(sorted),
                          begin + static_cast<ptrdiff_t>(want), begin + static_cast<ptrdiff_t>(n),
                          by_logit_desc);
        sorted = want;
      }
      double cumulative = 0.0;
      size_t keep = 0;
      while (keep < sorted && cumulative < options_.top_p) cumulative += candidates_[keep++].first;
      if (cumulative >= options_.top_p || sorted == n) {
        n = std::max<size_t>(keep, 1);
        break;
      }
      want *= 4;
    }
  }
  if (options_.min_p > 0.0f) {
    float max_p = 0.0f;
    for (size_t i = 0; i < n; ++i) max_p = std::max(max_p, candidates_[i].first);
    const float threshold = options_.min_p * max_p;
    auto end = std::remove_if(begin, begin + static_cast<ptrdiff_t>(n),
                              [&](const auto& c) { return c.first < threshold; });
    n = static_cast<size_t>(end - begin);
  }
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) total += candidates_[i].first;
  double r = next_uniform() * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cumulative += candidates_[i].first;
    if (r < cumulative) return candidates_[i].second;
  }
  return candidates_[n - 1].second;
}

}  // namespace chimera::engine
