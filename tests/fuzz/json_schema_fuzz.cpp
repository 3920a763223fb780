// libFuzzer target: arbitrary bytes as a JSON Schema through compile_json_schema, then, when it
// compiles, a few decoding steps on a synthetic vocabulary with the fast token mask checked against
// the reference at every step and each sampled token accepted by the parse state. Malformed and
// hostile schemas (deep nesting, huge enums, ambiguous anyOf, $ref cycles) must give clean errors,
// in bounded time and memory (run with -timeout and -rss_limit_mb). Run:
//   build/fuzz/tests/fuzz/json_schema_fuzz -max_total_time=300 -timeout=10 -rss_limit_mb=2048
//     -dict=tests/fuzz/json_schema.dict /tmp/new-corpus tests/fuzz/corpus/json_schema
// The same harness replays the seed corpus in the normal build
// (tests/engine/json_schema_corpus_test.cpp).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/grammar/grammar_mask.h"
#include "engine/grammar/json_schema_compiler.h"
#include "engine/tokenizer/tokenizer.h"

namespace chimera::engine {

// Returns 1 when the schema compiled, 0 when it was refused; aborts on an inconsistency.
inline int json_schema_fuzz_one(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto grammar = compile_json_schema(text);
  if (!grammar.ok()) {
    const ErrorCode code = grammar.status().code();
    if (grammar.status().message().empty() ||
        (code != ErrorCode::kInvalidArgument && code != ErrorCode::kUnsupported &&
         code != ErrorCode::kOutOfRange)) {
      std::abort();  // refusals are clean errors that say why
    }
    return 0;
  }
  static const std::shared_ptr<const GrammarVocabulary> vocab = [] {
    auto tokenizer = Tokenizer::from_vocab(synthetic_vocab("gemma3", 400));
    if (!tokenizer.ok()) std::abort();
    return GrammarVocabulary::build(**tokenizer, (*tokenizer)->n_vocab());
  }();
  auto constraint = GrammarConstraint::create(*grammar, vocab);
  if (!constraint.ok()) {
    if (constraint.status().code() != ErrorCode::kResourceExhausted) std::abort();
    return 1;  // too ambiguous to start: refused with a message
  }
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  for (int step = 0; step < 24 && !(*constraint)->ended(); ++step) {
    const int64_t left =
        (h >> (step % 60)) % 3 == 0 ? int64_t{1} << 40 : 1 + static_cast<int64_t>((h >> step) % 24);
    Status masked = (*constraint)->compute_mask(left);
    if (!masked.is_ok()) {
      if (masked.code() != ErrorCode::kResourceExhausted)
        std::abort();  // only ambiguity may stop it
      return 1;
    }
    TokenMask reference;
    if (!reference_token_mask(**grammar, *vocab, (*constraint)->state(),
                              static_cast<uint64_t>(left - 1), reference)
             .is_ok() ||
        !(reference == (*constraint)->mask())) {
      std::abort();  // the fast path must agree with the reference
    }
    const int64_t allowed = reference.count();
    int64_t pick = static_cast<int64_t>((h >> (step % 17)) % static_cast<uint64_t>(allowed));
    int32_t token = 0;
    for (; token < reference.size(); ++token) {
      if (reference.test(token) && pick-- == 0) break;
    }
    if (!(*constraint)->accept(token).is_ok()) std::abort();  // an allowed token must be accepted
    h = h * 6364136223846793005ull + 1442695040888963407ull;
  }
  return 1;
}

}  // namespace chimera::engine

#ifndef CHIMERA_FUZZ_HARNESS_ONLY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  chimera::engine::json_schema_fuzz_one(data, size);
  return 0;
}
#endif
