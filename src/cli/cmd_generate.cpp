// chimera generate: one prompt through the embedded engine, streamed, with timings printed the way
// `ollama run --verbose` prints them.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/configured.h"
#include "engine/engine.h"
#include "engine/model/model_config.h"
#include "engine/model/model_store.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/reasoning.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::cli {
namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  std::string prompt_tokens;  // "2,9259,1902"
  std::string system;
  bool raw = false;
  bool truncate = false;
  bool verbose = false;
  bool json = false;
  std::string dump_logits;
  int num_ctx = 4096;
  int num_predict = -1;
  int num_batch = 512;
  int num_thread = 0;
  engine::SamplingOptions sampling;
  int64_t seed = -1;  // Ollama: -1 = random
  std::vector<std::string> stop;
  std::string think;  // true|false|low|medium|high; empty: the model's default
};

// --think as Ollama's CLI takes it.
Result<engine::Think> parse_think_flag(const std::string& text) {
  if (text.empty()) return engine::Think::kDefault;
  if (text == "true") return engine::Think::kOn;
  if (text == "false") return engine::Think::kOff;
  if (auto level = engine::parse_think_level(text)) return *level;
  return make_error(ErrorCode::kInvalidArgument,
                    "--think {}: give true, false, low, medium or high", text);
}

Result<std::vector<int32_t>> parse_token_list(const std::string& text) {
  std::vector<int32_t> out;
  for (const std::string& part : split(text, ',')) {
    auto v = parse_int(trim(part));
    if (!v || *v < 0 || *v > INT32_MAX) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "--prompt-tokens: '{}' is not a token id; give ids separated by commas, e.g. "
          "2,9259,1902",
          part);
    }
    out.push_back(static_cast<int32_t>(*v));
  }
  return out;
}

// Go's time.Duration style, as `ollama run --verbose` prints: 1.234567s, 45.6789ms, 812µs.
std::string go_duration(int64_t ns) {
  if (ns >= 1'000'000'000) return fmt::format("{:.6g}s", static_cast<double>(ns) / 1e9);
  if (ns >= 1'000'000) return fmt::format("{:.6g}ms", static_cast<double>(ns) / 1e6);
  if (ns >= 1'000) return fmt::format("{:.6g}µs", static_cast<double>(ns) / 1e3);
  return fmt::format("{}ns", ns);
}

// A float option as the user typed it (0.9, not 0.8999999761581421).
double as_typed(float value) { return std::stod(fmt::format("{}", value)); }

double rate(int64_t count, int64_t ns) {
  return ns > 0 ? static_cast<double>(count) / ns_to_s(ns) : 0.0;
}

void print_verbose(const engine::GenerateResult& r) {
  const engine::Timings& t = r.timings;
  // decode_tps (ARCHITECTURE.md): tokens after the first over the time from the first to the last.
  const int64_t after_first = std::max<int64_t>(0, t.eval_count - 1);
  std::fprintf(stderr, "\n");
  std::fprintf(stderr, "total duration:       %s\n", go_duration(t.total_ns).c_str());
  std::fprintf(stderr, "load duration:        %s\n", go_duration(t.load_ns).c_str());
  std::fprintf(stderr, "prompt eval count:    %d token(s)%s\n", t.prompt_eval_count,
               r.prompt_truncated
                   ? fmt::format(" (truncated: {} dropped)", r.prompt_tokens_dropped).c_str()
                   : "");
  std::fprintf(stderr, "prompt eval duration: %s\n", go_duration(t.prompt_eval_ns).c_str());
  std::fprintf(stderr, "prompt eval rate:     %.2f tokens/s\n",
               rate(t.prompt_eval_count, t.prompt_eval_ns));
  std::fprintf(stderr, "eval count:           %d token(s)\n", t.eval_count);
  std::fprintf(stderr, "eval duration:        %s\n", go_duration(t.eval_ns).c_str());
  std::fprintf(stderr,
               "eval rate:            %.2f tokens/s (tokens after the first / eval duration)\n",
               rate(after_first, t.eval_ns));
  std::fprintf(stderr, "done reason:          %s\n", r.done_reason.c_str());
}

nlohmann::json result_json(const GenerateArgs& args, const engine::Model& model,
                           const engine::GenerateResult& r, const engine::SessionOptions& applied) {
  const engine::Timings& t = r.timings;
  nlohmann::json notes = nlohmann::json::array();
  for (const auto& n : model.info().load_notes) notes.push_back(n);
  nlohmann::json options = {{"num_ctx", applied.num_ctx},
                            {"num_predict", args.num_predict},
                            {"num_batch", applied.num_batch},
                            {"num_thread", applied.num_thread},
                            {"temperature", as_typed(args.sampling.temperature)},
                            {"top_k", args.sampling.top_k},
                            {"top_p", as_typed(args.sampling.top_p)},
                            {"min_p", as_typed(args.sampling.min_p)},
                            {"repeat_penalty", as_typed(args.sampling.repeat_penalty)},
                            {"repeat_last_n", args.sampling.repeat_last_n},
                            {"seed", args.seed},
                            {"stop", args.stop}};
  return {
      {"model", model.info().path},
      {"architecture", model.info().architecture},
      {"synthetic", model.info().synthetic},
      {"text", r.text},
      {"tokens", r.tokens},
      {"done_reason", r.done_reason},
      {"prompt_tokens", r.prompt_tokens},
      {"prompt_truncated", r.prompt_truncated},
      {"prompt_tokens_dropped", r.prompt_tokens_dropped},
      {"options", options},
      // Ollama's field names, in ns.
      {"load_duration", t.load_ns},
      {"prompt_eval_count", t.prompt_eval_count},
      {"prompt_eval_duration", t.prompt_eval_ns},
      {"eval_count", t.eval_count},
      {"eval_duration", t.eval_ns},
      {"total_duration", t.total_ns},
      {"prefill_tps", rate(t.prompt_eval_count, t.prompt_eval_ns)},
      {"decode_tps", rate(std::max(0, t.eval_count - 1), t.eval_ns)},
      {"load_notes", notes},
  };
}

Status write_logits(const std::string& path, const std::vector<float>& logits) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return make_error(ErrorCode::kIoError, "--dump-logits: cannot open {} for writing", path);
  // float32 little-endian, row-major n_tokens x n_vocab (x86 is little-endian; no byte swapping).
  out.write(reinterpret_cast<const char*>(logits.data()),
            static_cast<std::streamsize>(logits.size() * sizeof(float)));
  if (!out) return make_error(ErrorCode::kIoError, "--dump-logits: writing {} failed", path);
  return Status::ok();
}

int run_generate(GenerateArgs& args) {
  if (args.prompt.empty() == args.prompt_tokens.empty()) {
    return report_error(
        Status(ErrorCode::kInvalidArgument,
               "generate: give exactly one of -p/--prompt TEXT or --prompt-tokens IDS"));
  }
  auto think = parse_think_flag(args.think);
  if (!think.ok()) return report_error(think.status());
  engine::ModelStore store;
  auto path = engine::resolve_model_path(args.model, store);
  if (!path.ok()) return report_error(path.status());
  auto model = engine::Model::load(*path);
  if (!model.ok()) return report_error(model.status());
  const engine::ModelInfo& info = (*model)->info();
  if (info.synthetic) {
    std::fprintf(stderr,
                 "chimera: %s has dummy weights (synthetic): the text is meaningless, the timings "
                 "are real\n",
                 args.model.c_str());
  }
  if (args.verbose) {
    for (const auto& note : info.load_notes)
      std::fprintf(stderr, "chimera: load: %s\n", note.c_str());
  }

  engine::SessionOptions options;
  options.num_ctx = args.num_ctx;
  options.num_batch = args.num_batch;
  options.num_thread = args.num_thread;
  auto session = engine::Session::create(*model, options);
  if (!session.ok()) return report_error(session.status());

  engine::GenerateRequest request;
  request.think = *think;
  if (!args.prompt_tokens.empty()) {
    auto ids = parse_token_list(args.prompt_tokens);
    if (!ids.ok()) return report_error(ids.status());
    request.prompt_tokens = std::move(*ids);
  } else {
    request.prompt = args.prompt;
    request.system = args.system;
    request.raw = args.raw;
  }
  request.sampling = args.sampling;
  if (args.seed >= 0) request.sampling.seed = static_cast<uint64_t>(args.seed);
  request.num_predict = args.num_predict;
  request.stop = args.stop;
  request.truncate_prompt = args.truncate;
  std::vector<float> prompt_logits;
  if (!args.dump_logits.empty()) request.prompt_logits = &prompt_logits;

  // A thinking model (gpt-oss's channels, Qwen 3's <think> block) writes its reasoning and its
  // answer in one reply: the answer goes to stdout, the reasoning to stderr (and to "thinking"
  // with --json), as for serve's clients.
  std::unique_ptr<engine::ReplySplitter> splitter;
  if (!args.raw && args.prompt_tokens.empty()) {
    Status s = engine::check_think((*model)->chat_family(), request.think, info.architecture,
                                   "--think " + args.think);
    if (!s.is_ok()) return report_error(s);
    splitter = engine::reply_splitter_for((*model)->chat_family(), request.think);
  } else if (!args.think.empty()) {
    std::fprintf(stderr, "chimera: --think has no effect with %s (no chat template)\n",
                 args.raw ? "--raw" : "--prompt-tokens");
  }
  auto print = [&](const engine::ChannelText& t) {
    std::fwrite(t.thinking.data(), 1, t.thinking.size(), stderr);
    std::fwrite(t.content.data(), 1, t.content.size(), stdout);
    std::fflush(stdout);
  };
  auto result = (*session)->generate(request, [&](const engine::TokenEvent& e) {
    if (!args.json && !e.text.empty()) {
      if (splitter) {
        print(splitter->feed(e.text));
      } else {
        std::fwrite(e.text.data(), 1, e.text.size(), stdout);
        std::fflush(stdout);
      }
    }
    return true;
  });
  if (!result.ok()) return report_error(result.status());
  if (splitter && !args.json) print(splitter->flush());
  if (result->prompt_truncated) {
    std::fprintf(stderr,
                 "chimera: the prompt did not fit num_ctx %d: its first %d tokens were dropped\n",
                 args.num_ctx, result->prompt_tokens_dropped);
  }
  if (!args.dump_logits.empty()) {
    Status s = write_logits(args.dump_logits, prompt_logits);
    if (!s.is_ok()) return report_error(s);
    std::fprintf(
        stderr,
        "chimera: wrote logits of %d prompt positions x %d vocabulary entries (float32 LE) "
        "to %s\n",
        result->prompt_tokens, (*model)->config().n_vocab, args.dump_logits.c_str());
  }
  if (args.json) {
    nlohmann::json out = result_json(args, **model, *result, (*session)->options());
    if (splitter) {  // the answer as "text", the reasoning as "thinking"
      const engine::ChannelText split = splitter->finish(result->text);
      out["text"] = split.content;
      out["thinking"] = split.thinking;
    }
    std::printf("%s\n",
                out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
  }
  if (args.verbose) print_verbose(*result);
  return kExitOk;
}

}  // namespace

void register_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* sub = app.add_subcommand(
      "generate", "Run one prompt through the embedded engine, streamed, with timings");
  sub->add_option("-m,--model", args->model, "PATH.gguf or ollama:NAME[:TAG]")->required();
  sub->add_option("-p,--prompt", args->prompt,
                  "the prompt (a user turn, chat template applied unless --raw)");
  sub->add_option("--prompt-tokens", args->prompt_tokens,
                  "the prompt as token ids, e.g. 2,9259,1902");
  sub->add_option("--system", args->system, "system message");
  sub->add_flag("--raw", args->raw, "no chat template: the prompt is tokenized as given");
  sub->add_flag(
      "--truncate", args->truncate,
      "when the prompt does not fit num_ctx, keep its end (and say so) instead of failing");
  sub->add_option("--num-ctx", args->num_ctx, "context length in tokens")->capture_default_str();
  sub->add_option("--num-predict", args->num_predict, "tokens to generate (-1: until end or full)")
      ->capture_default_str();
  sub->add_option("--num-batch", args->num_batch, "prompt tokens per forward pass")
      ->capture_default_str();
  default_from_config(
      sub->add_option("--num-thread", args->num_thread, "threads (0: physical cores)")
          ->capture_default_str(),
      args->num_thread, "threads");
  sub->add_option("--temperature", args->sampling.temperature, "0 = greedy")->capture_default_str();
  sub->add_option("--top-k", args->sampling.top_k, "<= 0: off")->capture_default_str();
  sub->add_option("--top-p", args->sampling.top_p, ">= 1: off")->capture_default_str();
  sub->add_option("--min-p", args->sampling.min_p, "<= 0: off")->capture_default_str();
  sub->add_option("--repeat-penalty", args->sampling.repeat_penalty, "1: off")
      ->capture_default_str();
  sub->add_option("--repeat-last-n", args->sampling.repeat_last_n, "0: off, -1: num_ctx")
      ->capture_default_str();
  sub->add_option("--seed", args->seed, "-1: random")->capture_default_str();
  sub->add_option("--stop", args->stop, "stop string (repeatable)");
  sub->add_option("--think", args->think,
                  "thinking mode, as Ollama's: true|false, or gpt-oss's reasoning level "
                  "low|medium|high (default: the model's; Qwen 3 and gpt-oss think)");
  sub->add_flag("--verbose", args->verbose, "print timings like `ollama run --verbose` (stderr)");
  sub->add_flag("--json", args->json, "print one JSON object with the text and timings");
  sub->add_option(
      "--dump-logits", args->dump_logits,
      "write float32 little-endian logits of every prompt position (n_tokens x n_vocab)");
  sub->callback([args] { set_exit_code(run_generate(*args)); });
}

}  // namespace chimera::cli
