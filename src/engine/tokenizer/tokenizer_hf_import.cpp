// Hugging Face tokenizer.json (+ tokenizer_config.json) -> VocabData, as llama.cpp's converter
// (convert_hf_to_gguf.py) would produce the GGUF arrays:
//  - SentencePiece-style vocabularies (BPE with byte_fallback; Gemma 3) become model "llama" with
//    pieces kept in U+2581 form. HF stores merge pairs, SentencePiece stores piece scores; a merged
//    piece gets score -(rank of its first merge)-1, so score order is merge order. Pieces no merge
//    produces (single characters, <0xNN> bytes) keep 0: as initial symbols their score is never
//    consulted. Added tokens get -1000 like the converter gives them.
//  - Byte-level vocabularies become model "gpt2", pre "llama-bpe" (Llama 3), "qwen2" (Qwen) or
//    "gpt-4o" (gpt-oss),
//    merges as "left right".
//  - Added tokens: special (or looking special: <unused..>, <mask>, <|...|>) -> CONTROL; others ->
//    USER_DEFINED with U+2581 turned into spaces. SentencePiece vocabularies keep the model's size
//    (ids beyond it, such as Gemma 3's <image_soft_token>, are dropped as the converter drops
//    them).
#include <filesystem>
#include <optional>

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "engine/tokenizer/tokenizer_impl.h"
#include "util/mapped_file.h"
#include "util/strings.h"

namespace chimera::engine {

namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// Qwen2 / Qwen2.5 / Qwen3: the same with single digits.
constexpr std::string_view kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// gpt-oss (o200k_harmony): letter-case classes, contractions glued to words, '/' after punctuation.
constexpr std::string_view kO200kRegex =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr float kAddedTokenScore = -1000.0f;

struct AddedToken {
  int64_t id;
  std::string content;
  bool special;
};

// convert_hf_to_gguf.py's does_token_look_special.
bool looks_special(std::string_view t) {
  if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
  auto wrapped = [&](std::string_view open, std::string_view close) {
    return t.size() >= open.size() + close.size() && t.substr(0, open.size()) == open &&
           t.substr(t.size() - close.size()) == close;
  };
  return wrapped("<|", "|>") || wrapped("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") ||
         wrapped("<unused", ">");
}

std::string replace_space_marker(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
      out.push_back(' ');
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

bool is_byte_piece(std::string_view t) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return t.size() == 6 && t.substr(0, 3) == "<0x" && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

std::string_view string_or_empty(dom::element e) {
  std::string_view s;
  return e.get(s) == simdjson::SUCCESS ? s : std::string_view{};
}

// e[key] as a string; empty when e is not an object, lacks the key or the value is not a string.
std::string_view str_field(dom::element e, std::string_view key) {
  std::string_view s;
  return e.at_key(key).get(s) == simdjson::SUCCESS ? s : std::string_view{};
}

std::optional<bool> bool_field(dom::element e, std::string_view key) {
  bool b = false;
  if (e.at_key(key).get(b) != simdjson::SUCCESS) return std::nullopt;
  return b;
}

// A special token in tokenizer_config.json is a string or {"content": "..."}.
std::string config_token_text(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  return {};
}

std::optional<bool> config_bool(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

// Visits an element and, when it is a "Sequence", its children listed under `list_key`.
template <typename Visit>
void for_each_in_sequence(dom::element e, std::string_view list_key, const Visit& visit) {
  if (!e.is_object()) return;
  visit(e);
  dom::array children;
  if (e.at_key(list_key).get(children) == simdjson::SUCCESS) {
    for (dom::element child : children) for_each_in_sequence(child, list_key, visit);
  }
}

// TemplateProcessing's "single" template: does it start (end) with a special token?
void read_post_processor(dom::element doc, const std::string& bos_text, bool* bos, bool* eos) {
  dom::element post;
  if (doc.at_key("post_processor").get(post) != simdjson::SUCCESS) return;
  for_each_in_sequence(post, "processors", [&](dom::element p) {
    if (str_field(p, "type") != "TemplateProcessing") return;
    dom::array single;
    if (p.at_key("single").get(single) != simdjson::SUCCESS || single.size() == 0) return;
    dom::element first_special;
    if (single.at(0).at_key("SpecialToken").get(first_special) == simdjson::SUCCESS) {
      std::string_view id = str_field(first_special, "id");
      *bos = bos_text.empty() || id == bos_text;
    }
    dom::element last_special;
    if (single.size() > 1 &&
        single.at(single.size() - 1).at_key("SpecialToken").get(last_special) ==
            simdjson::SUCCESS) {
      *eos = true;
    }
  });
}

Result<std::vector<AddedToken>> read_added_tokens(dom::element doc, const nlohmann::json& config) {
  std::vector<AddedToken> added;
  // The converter reads tokenizer_config.json's added_tokens_decoder; tokenizer.json's added_tokens
  // carries the same entries and serves when there is no config.
  auto decoder = config.find("added_tokens_decoder");
  if (decoder != config.end() && decoder->is_object()) {
    for (const auto& [key, entry] : decoder->items()) {
      std::optional<int64_t> id = parse_int(key);
      if (!id || !entry.is_object()) {
        return make_error(
            ErrorCode::kParseError,
            "tokenizer_config.json: added_tokens_decoder entry '{}' is not a token id "
            "with an object",
            key);
      }
      auto content = entry.find("content");
      auto special = entry.find("special");
      added.push_back(
          {*id, content != entry.end() && content->is_string() ? content->get<std::string>() : "",
           special != entry.end() && special->is_boolean() && special->get<bool>()});
    }
    return added;
  }
  dom::array list;
  if (doc.at_key("added_tokens").get(list) != simdjson::SUCCESS) return added;
  for (dom::element e : list) {
    int64_t id = -1;
    if (e.at_key("id").get(id) != simdjson::SUCCESS) continue;
    added.push_back(
        {id, std::string(str_field(e, "content")), bool_field(e, "special").value_or(false)});
  }
  return added;
}

Status parse_error(const std::string& path, std::string_view what, simdjson::error_code error) {
  return make_error(ErrorCode::kParseError, "{}: {} ({})", path, what,
                    simdjson::error_message(error));
}

// Real vocabularies have a few hundred thousand ids; this bounds what a malformed file can
// allocate.
constexpr int64_t kMaxTokenId = int64_t{1} << 24;

// model.vocab (piece -> id) into dense arrays; holes become [PADi] placeholders as in the
// converter.
Status read_base_vocab(dom::element model, const std::string& path, bool spm, VocabData& v) {
  dom::object vocab;
  if (auto error = model["vocab"].get(vocab))
    return parse_error(path, "no model.vocab object", error);
  for (auto field : vocab) {
    int64_t id = -1;
    if (field.value.get(id) != simdjson::SUCCESS || id < 0 || id >= kMaxTokenId) {
      return make_error(ErrorCode::kParseError, "{}: model.vocab['{}'] is not a token id below {}",
                        path, field.key, kMaxTokenId);
    }
    if (static_cast<size_t>(id) >= v.tokens.size()) v.tokens.resize(static_cast<size_t>(id) + 1);
    v.tokens[static_cast<size_t>(id)] = std::string(field.key);
  }
  v.token_types.assign(v.tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.tokens[i].empty()) {
      v.tokens[i] = fmt::format("[PAD{}]", i);
      v.token_types[i] = static_cast<int32_t>(TokenType::kUnused);
    } else if (spm && is_byte_piece(v.tokens[i])) {
      v.token_types[i] = static_cast<int32_t>(TokenType::kByte);
    }
  }
  return Status::ok();
}

// A merge is "left right" (older files) or ["left", "right"] (newer ones).
std::pair<std::string_view, std::string_view> merge_parts(dom::element merge) {
  if (merge.is_string()) {
    std::string_view s = string_or_empty(merge);
    size_t space = s.find(' ', 1);
    if (space == std::string_view::npos) return {s, {}};
    return {s.substr(0, space), s.substr(space + 1)};
  }
  dom::array pair;
  if (merge.get(pair) != simdjson::SUCCESS || pair.size() != 2) return {};
  return {string_or_empty(pair.at(0).value_unsafe()), string_or_empty(pair.at(1).value_unsafe())};
}

// SentencePiece scores from merge order: a merged piece scores -(rank of its first merge)-1.
void score_merged_pieces(dom::array merges, VocabData& v) {
  tokenizer_detail::PieceIndex index;
  index.build(v.tokens);
  v.scores.assign(v.tokens.size(), 0.0f);
  std::vector<uint8_t> scored(v.tokens.size(), 0);
  int64_t rank = 0;
  for (dom::element merge : merges) {
    auto [left, right] = merge_parts(merge);
    int32_t id = index.find(
        left, right, tokenizer_detail::hash_bytes(right, tokenizer_detail::hash_bytes(left)));
    if (id >= 0 && !scored[static_cast<size_t>(id)]) {
      scored[static_cast<size_t>(id)] = 1;
      v.scores[static_cast<size_t>(id)] = static_cast<float>(-(rank + 1));
    }
    ++rank;
  }
}

void collect_merges(dom::array merges, VocabData& v) {
  v.merges.reserve(merges.size());
  for (dom::element merge : merges) {
    auto [left, right] = merge_parts(merge);
    std::string joined(left);
    joined.push_back(' ');
    joined.append(right);
    v.merges.push_back(std::move(joined));
  }
}

void apply_added_tokens(const std::vector<AddedToken>& added, bool spm, VocabData& v) {
  for (const AddedToken& token : added) {
    if (token.id < 0 || token.id >= kMaxTokenId) continue;
    auto id = static_cast<size_t>(token.id);
    if (id >= v.tokens.size()) {
      if (spm) continue;  // beyond the SentencePiece model: dropped, as the converter does
      size_t old = v.tokens.size();
      v.tokens.resize(id + 1);
      v.token_types.resize(id + 1, static_cast<int32_t>(TokenType::kUnused));
      for (size_t i = old; i < id; ++i) v.tokens[i] = fmt::format("[PAD{}]", i);
    }
    if (token.special || looks_special(token.content)) {
      v.tokens[id] = token.content;
      v.token_types[id] = static_cast<int32_t>(TokenType::kControl);
    } else {
      v.tokens[id] = replace_space_marker(token.content);
      v.token_types[id] = static_cast<int32_t>(TokenType::kUserDefined);
    }
    if (spm) v.scores[id] = kAddedTokenScore;
  }
}

// Special ids: the texts tokenizer_config.json names, resolved against the final token list.
void resolve_special_ids(const nlohmann::json& config, const std::string& unk_text, bool spm,
                         VocabData& v) {
  tokenizer_detail::PieceIndex index;
  index.build(v.tokens);
  auto id_of = [&](const std::string& text) { return text.empty() ? -1 : index.find(text); };
  v.bos_id = id_of(config_token_text(config, "bos_token"));
  int32_t config_eos = id_of(config_token_text(config, "eos_token"));
  v.eos_id = config_eos;
  if (spm) {
    // SentencePiece models end a sequence with <eos> (Gemma) or </s>; instruction-tuned configs
    // name the end-of-turn token instead. Keep both, as Ollama's eos_token_ids does (Gemma 3: [1,
    // 106]).
    for (const char* natural : {"<eos>", "</s>"}) {
      if (int32_t id = index.find(natural); id >= 0) {
        v.eos_id = id;
        break;
      }
    }
    if (config_eos >= 0 && v.eos_id >= 0 && config_eos != v.eos_id)
      v.eos_ids = {v.eos_id, config_eos};
    if (!unk_text.empty()) {
      int32_t unk = index.find(unk_text);
      if (unk >= 0 &&
          v.token_types[static_cast<size_t>(unk)] == static_cast<int32_t>(TokenType::kNormal)) {
        v.token_types[static_cast<size_t>(unk)] = static_cast<int32_t>(TokenType::kUnknown);
      }
    }
  } else {
    v.eot_id = index.find("<|eot_id|>");
    v.eom_id = index.find("<|eom_id|>");
  }
  v.unk_id = id_of(config_token_text(config, "unk_token"));
  if (v.unk_id < 0) v.unk_id = id_of(unk_text);
  v.pad_id = id_of(config_token_text(config, "pad_token"));
}

// "default" for SentencePiece; for byte-level vocabularies the Split regex must be Llama 3's
// ("llama-bpe") or Qwen's ("qwen2").
Status read_pre_tokenizer(dom::element doc, const std::string& path, bool spm, VocabData& v) {
  if (spm) {
    v.pre = "default";
    dom::element normalizer;
    if (doc.at_key("normalizer").get(normalizer) == simdjson::SUCCESS) {
      for_each_in_sequence(normalizer, "normalizers", [&](dom::element e) {
        if (str_field(e, "type") == "Prepend") v.add_space_prefix = true;
      });
    }
    return Status::ok();
  }
  v.pre.clear();
  dom::element pre;
  if (doc.at_key("pre_tokenizer").get(pre) == simdjson::SUCCESS) {
    for_each_in_sequence(pre, "pretokenizers", [&](dom::element e) {
      dom::element regex;
      if (e.at_key("pattern").get(regex) != simdjson::SUCCESS) return;
      if (str_field(regex, "Regex") == kLlama3Regex) v.pre = "llama-bpe";
      if (str_field(regex, "Regex") == kQwen2Regex) v.pre = "qwen2";
      if (str_field(regex, "Regex") == kO200kRegex) v.pre = "gpt-4o";
    });
  }
  if (v.pre.empty()) {
    return make_error(ErrorCode::kUnsupported,
                      "{}: the byte-level pre-tokenizer is not Llama 3's, Qwen's or o200k's regex; "
                      "this build implements those three (llama-bpe, qwen2, gpt-4o)",
                      path);
  }
  return Status::ok();
}

Result<nlohmann::json> read_config_beside(const std::string& tokenizer_json_path) {
  // tokenizer_config.json is small, and holds integers beyond 64 bits (Llama 3's model_max_length)
  // that simdjson 3.0 rejects: nlohmann reads it.
  std::string path =
      std::filesystem::path(tokenizer_json_path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return nlohmann::json::object();
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return make_error(ErrorCode::kParseError, "{}: not a JSON object", path);
  }
  return config;
}

}  // namespace

Result<VocabData> import_hf_tokenizer_json(const std::string& path) {
  simdjson::padded_string json;
  if (auto error = simdjson::padded_string::load(path).get(json)) {
    return make_error(ErrorCode::kNotFound,
                      "{}: cannot read the tokenizer ({}); run "
                      "scripts/fetch-vocab.sh or pass the path of a tokenizer.json",
                      path, simdjson::error_message(error));
  }
  dom::parser parser;
  dom::element doc;
  if (auto error = parser.parse(json).get(doc)) return parse_error(path, "not valid JSON", error);
  CHIMERA_ASSIGN_OR_RETURN(nlohmann::json config, read_config_beside(path));

  dom::element model;
  if (auto error = doc["model"].get(model); error || !model.is_object()) {
    return parse_error(path, "no \"model\" object", error ? error : simdjson::INCORRECT_TYPE);
  }
  std::string_view model_type = str_field(model, "type");
  if (model_type != "BPE") {
    return make_error(ErrorCode::kUnsupported,
                      "{}: model type '{}' is not supported; this build imports BPE vocabularies "
                      "(Gemma 3, Llama 3)",
                      path, model_type);
  }
  // byte_fallback marks SentencePiece-style BPE (Gemma); its absence, byte-level BPE (Llama 3).
  bool spm = bool_field(model, "byte_fallback").value_or(false);
  VocabData v;
  v.model = spm ? "llama" : "gpt2";
  CHIMERA_RETURN_IF_ERROR(read_base_vocab(model, path, spm, v));
  dom::array merges;
  if (auto error = model["merges"].get(merges))
    return parse_error(path, "no model.merges array", error);
  if (spm) {
    score_merged_pieces(merges, v);
  } else {
    collect_merges(merges, v);
  }
  CHIMERA_ASSIGN_OR_RETURN(std::vector<AddedToken> added, read_added_tokens(doc, config));
  apply_added_tokens(added, spm, v);
  resolve_special_ids(config, std::string(str_field(model, "unk_token")), spm, v);

  // add_bos/add_eos from the config when it says, else from the post-processor template.
  bool post_bos = false;
  bool post_eos = false;
  read_post_processor(doc, config_token_text(config, "bos_token"), &post_bos, &post_eos);
  v.add_bos = config_bool(config, "add_bos_token").value_or(post_bos);
  v.add_eos = config_bool(config, "add_eos_token").value_or(post_eos);
  v.add_space_prefix = false;
  CHIMERA_RETURN_IF_ERROR(read_pre_tokenizer(doc, path, spm, v));
  if (auto it = config.find("chat_template"); it != config.end() && it->is_string()) {
    v.chat_template = it->get<std::string>();
  }
  return v;
}

}  // namespace chimera::engine
