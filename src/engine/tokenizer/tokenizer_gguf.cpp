// Vocabulary <-> GGUF: the tokenizer.ggml.* keys (engine-reference.md §1.2) as llama.cpp's
// converter writes them and its loader reads them (defaults for absent keys included).
#include <fmt/format.h>

#include "engine/gguf/gguf.h"
#include "engine/tokenizer/tokenizer.h"

namespace chimera::engine {

namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";

Result<int32_t> read_token_id(const GgufFile& file, std::string_view key, int32_t absent) {
  const GgufMetadata* kv = file.find(key);
  if (kv == nullptr) return absent;
  std::optional<int64_t> value = file.get_int(key);
  if (!value || *value < 0 || *value > INT32_MAX) {
    return make_error(ErrorCode::kParseError, "{}: {} is {}; expected a token id (u32)",
                      file.path(), key, kv != nullptr ? format_gguf_value(*kv) : "absent");
  }
  return static_cast<int32_t>(*value);
}

bool read_bool(const GgufFile& file, std::string_view key, bool absent) {
  return file.get_bool(key).value_or(absent);
}

}  // namespace

Result<VocabData> read_vocab_from_gguf(const GgufFile& file) {
  VocabData v;
  std::optional<std::string_view> model = file.get_string(kModelKey);
  if (!model) {
    return make_error(
        ErrorCode::kNotFound,
        "{}: no tokenizer ({} is missing); this file cannot encode text — use a model "
        "GGUF that includes its vocabulary",
        file.path(), kModelKey);
  }
  v.model = std::string(*model);
  v.pre = std::string(file.get_string("tokenizer.ggml.pre").value_or(""));
  bool spm = v.model == "llama";

  CHIMERA_ASSIGN_OR_RETURN(std::vector<std::string_view> tokens,
                           file.get_string_array("tokenizer.ggml.tokens"));
  v.tokens.reserve(tokens.size());
  for (std::string_view t : tokens) v.tokens.emplace_back(t);
  if (file.has("tokenizer.ggml.scores")) {
    CHIMERA_ASSIGN_OR_RETURN(v.scores, file.get_float_array("tokenizer.ggml.scores"));
  }
  if (file.has("tokenizer.ggml.token_type")) {
    CHIMERA_ASSIGN_OR_RETURN(std::vector<int64_t> types,
                             file.get_int_array("tokenizer.ggml.token_type"));
    v.token_types.reserve(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] < 0 || types[i] > static_cast<int64_t>(TokenType::kByte)) {
        return make_error(ErrorCode::kParseError,
                          "{}: tokenizer.ggml.token_type[{}] is {}; valid types are 0..6",
                          file.path(), i, types[i]);
      }
      v.token_types.push_back(static_cast<int32_t>(types[i]));
    }
  }
  if (file.has("tokenizer.ggml.merges")) {
    CHIMERA_ASSIGN_OR_RETURN(std::vector<std::string_view> merges,
                             file.get_string_array("tokenizer.ggml.merges"));
    v.merges.reserve(merges.size());
    for (std::string_view m : merges) v.merges.emplace_back(m);
  }

  // llama.cpp's SentencePiece defaults when the file names no special ids.
  int32_t n = static_cast<int32_t>(v.tokens.size());
  auto spm_default = [&](int32_t id) { return spm && id < n ? id : -1; };
  CHIMERA_ASSIGN_OR_RETURN(v.bos_id,
                           read_token_id(file, "tokenizer.ggml.bos_token_id", spm_default(1)));
  CHIMERA_ASSIGN_OR_RETURN(v.eos_id,
                           read_token_id(file, "tokenizer.ggml.eos_token_id", spm_default(2)));
  CHIMERA_ASSIGN_OR_RETURN(v.unk_id,
                           read_token_id(file, "tokenizer.ggml.unknown_token_id", spm_default(0)));
  CHIMERA_ASSIGN_OR_RETURN(v.pad_id, read_token_id(file, "tokenizer.ggml.padding_token_id", -1));
  CHIMERA_ASSIGN_OR_RETURN(v.eot_id, read_token_id(file, "tokenizer.ggml.eot_token_id", -1));
  CHIMERA_ASSIGN_OR_RETURN(v.eom_id, read_token_id(file, "tokenizer.ggml.eom_token_id", -1));
  if (file.has("tokenizer.ggml.eos_token_ids")) {
    CHIMERA_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                             file.get_int_array("tokenizer.ggml.eos_token_ids"));
    for (int64_t id : ids) {
      if (id < 0 || id > INT32_MAX) {
        return make_error(ErrorCode::kParseError,
                          "{}: tokenizer.ggml.eos_token_ids contains {}; expected token ids",
                          file.path(), id);
      }
      v.eos_ids.push_back(static_cast<int32_t>(id));
    }
  }
  bool llama3_pre = v.pre == "llama-bpe" || v.pre == "llama3" || v.pre == "llama-v3";
  v.add_bos = read_bool(file, "tokenizer.ggml.add_bos_token", spm || llama3_pre);
  v.add_eos = read_bool(file, "tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = read_bool(file, "tokenizer.ggml.add_space_prefix", spm);
  v.chat_template = std::string(file.get_string("tokenizer.chat_template").value_or(""));
  return v;
}

Result<std::shared_ptr<const Tokenizer>> Tokenizer::from_gguf(const GgufFile& file) {
  CHIMERA_ASSIGN_OR_RETURN(VocabData vocab, read_vocab_from_gguf(file));
  auto tokenizer = from_vocab(std::move(vocab));
  if (!tokenizer.ok()) return tokenizer.status().with_context(file.path());
  return tokenizer;
}

Status write_vocab_to_gguf(GgufWriter& writer, const VocabData& v) {
  if (v.model != "llama" && v.model != "gpt2") {
    return make_error(ErrorCode::kInvalidArgument,
                      "vocabulary model '{}' cannot be written; expected 'llama' or 'gpt2'",
                      v.model);
  }
  bool spm = v.model == "llama";
  size_t n = v.tokens.size();
  if ((!v.scores.empty() && v.scores.size() != n) ||
      (!v.token_types.empty() && v.token_types.size() != n)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "vocabulary arrays disagree: {} tokens, {} scores, {} token types", n,
                      v.scores.size(), v.token_types.size());
  }
  writer.set_string(std::string(kModelKey), v.model);
  // llama.cpp's SentencePiece conversion writes pre "default".
  writer.set_string("tokenizer.ggml.pre", v.pre.empty() && spm ? "default" : v.pre);
  writer.set_string_array("tokenizer.ggml.tokens", v.tokens);
  if (spm) {
    writer.set_f32_array("tokenizer.ggml.scores",
                         v.scores.empty() ? std::vector<float>(n, 0.0f) : v.scores);
  }
  writer.set_i32_array("tokenizer.ggml.token_type",
                       v.token_types.empty()
                           ? std::vector<int32_t>(n, static_cast<int32_t>(TokenType::kNormal))
                           : v.token_types);
  if (!spm) writer.set_string_array("tokenizer.ggml.merges", v.merges);
  auto put_id = [&](const char* key, int32_t id) {
    if (id >= 0) writer.set_u32(key, static_cast<uint32_t>(id));
  };
  put_id("tokenizer.ggml.bos_token_id", v.bos_id);
  put_id("tokenizer.ggml.eos_token_id", v.eos_id);
  put_id("tokenizer.ggml.unknown_token_id", v.unk_id);
  put_id("tokenizer.ggml.padding_token_id", v.pad_id);
  put_id("tokenizer.ggml.eot_token_id", v.eot_id);
  put_id("tokenizer.ggml.eom_token_id", v.eom_id);
  if (!v.eos_ids.empty()) writer.set_i32_array("tokenizer.ggml.eos_token_ids", v.eos_ids);
  writer.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  writer.set_bool("tokenizer.ggml.add_eos_token", v.add_eos);
  if (spm) writer.set_bool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  if (!v.chat_template.empty()) writer.set_string("tokenizer.chat_template", v.chat_template);
  return Status::ok();
}

}  // namespace chimera::engine
