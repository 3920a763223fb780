// The Llama 3 pre-tokenizer (tiktoken cl100k style), engine-reference.md §4.2, Qwen's (the same
// with single digits, engine-reference-models.md §6) and o200k (gpt-oss), run with PCRE2
// (UTF + UCP, JIT-compiled). The pattern is the one in Llama 3's tokenizer.json with two deliberate
// spellings that make it match llama.cpp's hand-written scanner rather than a regex engine's
// defaults:
//  - contractions are spelled '[sS] ... instead of (?i:'s ...), so that Unicode case folding (e.g.
//  the
//    long s U+017F) does not extend them;
//  - \s is spelled out as the Unicode White_Space set that llama.cpp uses (PCRE2's \s with UCP
//  lacks
//    U+0085, JavaScript's adds U+FEFF).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include "engine/tokenizer/tokenizer_impl.h"

namespace chimera::engine::tokenizer_detail {

namespace {

#define CHIMERA_WS     \
  "\\t\\n\\x0B\\f\\r " \
  "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

#define CHIMERA_HEAD                                          \
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])" \
  "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
#define CHIMERA_TAIL                   \
  "| ?[^" CHIMERA_WS                   \
  "\\p{L}\\p{N}]+[\\r\\n]*"            \
  "|[" CHIMERA_WS                      \
  "]*[\\r\\n]+"                        \
  "|[" CHIMERA_WS "]+(?![^" CHIMERA_WS \
  "])"                                 \
  "|[" CHIMERA_WS "]+"

constexpr const char* kLlama3Pattern = CHIMERA_HEAD "|\\p{N}{1,3}" CHIMERA_TAIL;
// Qwen2 / Qwen3: single digits.
constexpr const char* kQwen2Pattern = CHIMERA_HEAD "|\\p{N}" CHIMERA_TAIL;

// o200k (gpt-oss; tokenizer.json's regex, which tiktoken and the HF tokenizer run): a word is an
// optional non-letter, then upper-case-ish letters followed by lower-case-ish ones (or the reverse
// order of emphasis), with the contraction glued to it; digits in runs of up to 3; '/' joins the
// newlines after punctuation. llama.cpp approximates the case classes with [^a-z] / [^A-Z]
// (identical on ASCII; it differs on mixed-case non-ASCII words and combining marks): this follows
// the model's own tokenizer.
#define CHIMERA_CONTRACTION "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
#define CHIMERA_UPPER "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define CHIMERA_LOWER "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
constexpr const char* kO200kPattern =
    "[^\\r\\n\\p{L}\\p{N}]?" CHIMERA_UPPER "*" CHIMERA_LOWER "+" CHIMERA_CONTRACTION
    "|[^\\r\\n\\p{L}\\p{N}]?" CHIMERA_UPPER "+" CHIMERA_LOWER "*" CHIMERA_CONTRACTION
    "|\\p{N}{1,3}"
    "| ?[^" CHIMERA_WS
    "\\p{L}\\p{N}]+[\\r\\n/]*"
    "|[" CHIMERA_WS
    "]*[\\r\\n]+"
    "|[" CHIMERA_WS "]+(?![^" CHIMERA_WS
    "])"
    "|[" CHIMERA_WS "]+";
#undef CHIMERA_CONTRACTION
#undef CHIMERA_UPPER
#undef CHIMERA_LOWER

#undef CHIMERA_HEAD
#undef CHIMERA_TAIL

#undef CHIMERA_WS

pcre2_code* as_code(void* code) { return static_cast<pcre2_code*>(code); }

// One match block per thread, reused by every call: the compiled pattern is shared read-only, the
// match data is the only per-call state. Only the whole-match offsets are read, so one pair
// suffices.
struct ThreadMatchData {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  ~ThreadMatchData() { pcre2_match_data_free(data); }
};

}  // namespace

Result<std::unique_ptr<Llama3PreTokenizer>> Llama3PreTokenizer::create(PreTokenizerKind kind) {
  const char* pattern = kind == PreTokenizerKind::kQwen2   ? kQwen2Pattern
                        : kind == PreTokenizerKind::kO200k ? kO200kPattern
                                                           : kLlama3Pattern;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  // MATCH_INVALID_UTF: invalid UTF-8 never matches and is reported as a gap instead of an error.
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error_code,
                                   &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return make_error(ErrorCode::kInternal,
                      "byte-level pre-tokenizer pattern did not compile at {}: {}", error_offset,
                      reinterpret_cast<const char*>(message));
  }
  std::unique_ptr<Llama3PreTokenizer> pre(new Llama3PreTokenizer());
  pre->code_ = code;
  pre->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;  // interpreter if JIT is missing
  return pre;
}

Llama3PreTokenizer::~Llama3PreTokenizer() { pcre2_code_free(as_code(code_)); }

void Llama3PreTokenizer::split(std::string_view text,
                               std::vector<std::pair<uint32_t, uint32_t>>& words) const {
  pcre2_code* code = as_code(code_);
  thread_local ThreadMatchData thread_match;
  pcre2_match_data* match = thread_match.data;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), pos, 0, match, nullptr)
                  : pcre2_match(code, subject, text.size(), pos, 0, match, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(code, subject, text.size(), pos, 0, match, nullptr);
    }
    if (rc < 0) break;  // no further match: the rest is one gap
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    size_t start = ovector[0];
    size_t end = ovector[1];
    if (start > pos)
      words.emplace_back(static_cast<uint32_t>(pos), static_cast<uint32_t>(start - pos));
    if (end == start) {  // the pattern has no empty alternative; guard against looping anyway
      end = start + 1;
    }
    words.emplace_back(static_cast<uint32_t>(start), static_cast<uint32_t>(end - start));
    pos = end;
  }
  if (pos < text.size()) {
    words.emplace_back(static_cast<uint32_t>(pos), static_cast<uint32_t>(text.size() - pos));
  }
}

}  // namespace chimera::engine::tokenizer_detail
