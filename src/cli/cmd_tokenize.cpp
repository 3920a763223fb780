// chimera tokenize: text -> token ids with a model's vocabulary (a GGUF file, or a Hugging Face
// tokenizer.json such as the fetched npm vocabularies). Prints ids as llama-tokenize --ids does.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "engine/gguf/gguf.h"
#include "engine/model/model_quirks.h"
#include "engine/model/synth.h"
#include "engine/tokenizer/tokenizer.h"
#include "util/paths.h"

namespace chimera::cli {

namespace {

struct TokenizeArgs {
  std::string model_path;
  std::string vocab;
  std::string text;
  bool no_bos = false;
  bool no_parse_special = false;
  bool json = false;
  bool pieces = false;
};

// engine::fetched_vocabularies() name the fetched vocabularies; anything else is a path to a
// tokenizer.json or to the directory holding one.
std::string resolve_vocab_path(const std::string& vocab) {
  for (std::string_view name : engine::fetched_vocabularies()) {
    if (vocab == name) return vocab_dir() + "/" + vocab + "/tokenizer.json";
  }
  std::error_code ec;
  if (std::filesystem::is_directory(vocab, ec)) return vocab + "/tokenizer.json";
  return vocab;
}

// A GGUF's vocabulary with the fixes the model loader applies to Ollama-made files (missing Llama 3
// pre-tokenizer, end-of-turn ids, arrays longer than token_embd), so ids match what `generate`
// sees.
Result<std::shared_ptr<const engine::Tokenizer>> load_gguf_tokenizer(
    const std::string& path, std::vector<std::string>* notes) {
  CHIMERA_ASSIGN_OR_RETURN(engine::GgufFile file, engine::GgufFile::open(path));
  CHIMERA_ASSIGN_OR_RETURN(engine::VocabData vocab, engine::read_vocab_from_gguf(file));
  std::string architecture(file.get_string("general.architecture").value_or(""));
  const engine::GgufTensorInfo* embeddings = file.find_tensor("token_embd.weight");
  int64_t rows = embeddings != nullptr && embeddings->ne.size() >= 2 ? embeddings->ne[1] : 0;
  engine::apply_vocab_quirks(architecture, rows, vocab, notes);
  auto tokenizer = engine::Tokenizer::from_vocab(std::move(vocab));
  if (!tokenizer.ok()) return tokenizer.status().with_context(path);
  return tokenizer;
}

Result<std::shared_ptr<const engine::Tokenizer>> load_tokenizer(const TokenizeArgs& args,
                                                                std::vector<std::string>* notes) {
  if (!args.model_path.empty()) return load_gguf_tokenizer(args.model_path, notes);
  std::string path = resolve_vocab_path(args.vocab);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && path.rfind(vocab_dir(), 0) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--vocab '{}' is neither {} nor an existing tokenizer.json (or a directory "
                      "holding one)",
                      args.vocab, fmt::join(engine::fetched_vocabularies(), ", "));
  }
  auto vocab = engine::import_hf_tokenizer_json(path);
  if (!vocab.ok()) {
    if (path.rfind(vocab_dir(), 0) == 0) {
      return vocab.status().with_context(
          fmt::format("vocabulary '{}' (fetch it with scripts/fetch-vocab.sh)", args.vocab));
    }
    return vocab.status();
  }
  return engine::Tokenizer::from_vocab(std::move(vocab).value());
}

std::string format_ids(const std::vector<int32_t>& ids) {
  return fmt::format("[{}]", fmt::join(ids, ", "));
}

// A piece as text a terminal can show: control bytes escaped, the rest as stored.
std::string printable_piece(std::string_view piece) {
  std::string out;
  for (unsigned char c : piece) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

int run_tokenize(const TokenizeArgs& args) {
  if (args.model_path.empty() == args.vocab.empty()) {
    return report_error(Status(ErrorCode::kInvalidArgument,
                               "tokenize needs exactly one of -m MODEL.gguf or --vocab "
                               "gemma3|llama3|llama3_1|qwen3|qwen2_5|gptoss|PATH/tokenizer.json"));
  }
  std::string text = args.text;
  if (text == "-") text.assign(std::istreambuf_iterator<char>(std::cin), {});
  std::vector<std::string> notes;
  auto tokenizer = load_tokenizer(args, &notes);
  if (!tokenizer.ok()) return report_error(tokenizer.status());
  if (!args.json) {
    for (const std::string& note : notes) std::fprintf(stderr, "note: %s\n", note.c_str());
  }
  const engine::Tokenizer& tok = **tokenizer;
  std::vector<int32_t> ids = tok.encode(text, !args.no_bos, !args.no_parse_special);

  if (args.json) {
    nlohmann::json out;
    out["source"] = args.model_path.empty() ? args.vocab : args.model_path;
    out["tokenizer"] = std::string(tok.model_name());
    out["n_vocab"] = tok.n_vocab();
    out["n_tokens"] = ids.size();
    out["ids"] = ids;
    nlohmann::json pieces = nlohmann::json::array();
    for (int32_t id : ids) {
      // Pieces may hold half a UTF-8 character (byte tokens): keep the JSON valid.
      pieces.push_back(std::string(tok.token_text(id)));
    }
    out["pieces"] = pieces;
    out["notes"] = notes;
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else if (args.pieces) {
    for (int32_t id : ids) {
      std::printf("%6d -> '%s'\n", id, printable_piece(tok.token_text(id)).c_str());
    }
  } else {
    std::printf("%s\n", format_ids(ids).c_str());
  }
  return kExitOk;
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* sub = app.add_subcommand(
      "tokenize",
      "Print the token ids of TEXT with a model's vocabulary (like llama-tokenize --ids)");
  sub->add_option("-m,--model", args->model_path,
                  "GGUF model file (only its tokenizer keys are read)");
  sub->add_option(
      "--vocab", args->vocab,
      "Vocabulary without a GGUF: gemma3, llama3, llama3_1, qwen3, qwen2_5, gptoss (fetched by "
      "scripts/fetch-vocab.sh) or PATH/tokenizer.json");
  sub->add_option("text", args->text, "Text to tokenize ('-' reads standard input)")->required();
  sub->add_flag("--no-bos", args->no_bos, "Do not add BOS/EOS as the vocabulary would");
  sub->add_flag("--no-parse-special", args->no_parse_special,
                "Split special-token text such as <start_of_turn> as plain text");
  sub->add_flag("--json", args->json, "Machine-readable output: ids, pieces, counts");
  sub->add_flag("--pieces", args->pieces, "One line per token: id -> 'piece'");
  sub->callback([args] { set_exit_code(run_tokenize(*args)); });
}

}  // namespace chimera::cli
