// chimera model synth | info | list: make dummy-weight GGUFs, inspect any GGUF (or an Ollama model)
// from its header alone, and list the models present on this machine.
#include <cstdio>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "engine/gguf/gguf.h"
#include "engine/model/model_store.h"
#include "engine/model/synth.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/paths.h"
#include "util/strings.h"
#include "util/term.h"

namespace chimera::cli {
namespace {

using engine::GgufFile;
using nlohmann::json;

void print_json(const json& j) {
  // Vocabulary pieces and hostile files may hold invalid UTF-8: replace rather than throw.
  std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

// ---------------------------------------------------------------------------------------------
// synth

struct SynthArgs {
  engine::SynthOptions options;
  std::string type = "q8_0";
  bool type_given = false;  // without --type, gpt-oss gets mxfp4_moe (as its releases)
  std::string output;
  bool json = false;
};

int run_synth(SynthArgs args) {
  if (!args.type_given && to_lower(args.options.arch) == "gpt-oss") args.type = "mxfp4_moe";
  auto type = engine::synth_file_type_from_name(args.type);
  if (!type) {
    return report_error(make_error(ErrorCode::kInvalidArgument,
                                   "--type {} is not supported; use f32, f16, bf16, q8_0, q4_0, "
                                   "q4_1, q5_1, q4_k_m, q5_k_m, q6_k or mxfp4_moe",
                                   args.type));
  }
  args.options.type = *type;
  if (args.output.empty()) {
    const std::string dir = cache_dir() + "/models";
    Status st = ensure_directory(dir);
    if (!st.is_ok()) return report_error(st);
    args.output = fmt::format("{}/{}-{}-{}.gguf", dir, to_lower(args.options.arch),
                              to_lower(args.options.size), to_lower(args.type));
  }
  term::ProgressBar bar("synth", 1000);
  args.options.progress = [&bar](uint64_t done, uint64_t total) {
    bar.update(total ? static_cast<int64_t>(done * 1000 / total) : 1000,
               fmt::format("{} / {}", format_bytes(done), format_bytes(total)));
  };
  Stopwatch watch;
  auto plan = engine::synthesize_model(args.options, args.output);
  bar.finish();
  if (!plan.ok()) return report_error(plan.status());
  const double seconds = ns_to_s(watch.elapsed_ns());
  std::error_code ec;
  const uint64_t file_bytes = std::filesystem::file_size(args.output, ec);
  const engine::SynthShape& s = plan->shape;
  if (args.json) {
    print_json({{"path", args.output},
                {"name", s.display_name},
                {"architecture", s.arch},
                {"preset", s.preset},
                {"type", std::string(engine::synth_file_type_name(args.options.type))},
                {"parameters", plan->parameter_count},
                {"file_bytes", file_bytes},
                {"n_vocab", s.n_vocab},
                {"seed", args.options.seed},
                {"seconds", seconds},
                {"provenance", "synthetic"}});
    return kExitOk;
  }
  std::printf("wrote %s\n", args.output.c_str());
  std::printf("  %s: %lld layers, embedding %lld, %lld tokens, %s params, %s, %s in %.1f s\n",
              s.display_name.c_str(), static_cast<long long>(s.n_layers),
              static_cast<long long>(s.d_model), static_cast<long long>(s.n_vocab),
              format_count(plan->parameter_count).c_str(),
              std::string(engine::synth_file_type_name(args.options.type)).c_str(),
              format_bytes(file_bytes).c_str(), seconds);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// info

std::string_view llama_ftype_name(int64_t ftype) {
  static const std::map<int64_t, std::string_view> kNames = {
      {0, "F32"},     {1, "F16"},     {2, "Q4_0"},      {3, "Q4_1"},    {7, "Q8_0"},
      {8, "Q5_0"},    {9, "Q5_1"},    {10, "Q2_K"},     {11, "Q3_K_S"}, {12, "Q3_K_M"},
      {13, "Q3_K_L"}, {14, "Q4_K_S"}, {15, "Q4_K_M"},   {16, "Q5_K_S"}, {17, "Q5_K_M"},
      {18, "Q6_K"},   {32, "BF16"},   {38, "MXFP4_MOE"}};
  auto it = kNames.find(ftype);
  return it == kNames.end() ? std::string_view("unknown") : it->second;
}

// Hyper-parameters shown for any architecture: (label, key suffix after "<arch>.").
constexpr std::pair<std::string_view, std::string_view> kHyperParams[] = {
    {"blocks", "block_count"},
    {"embedding", "embedding_length"},
    {"feed forward", "feed_forward_length"},
    {"heads", "attention.head_count"},
    {"kv heads", "attention.head_count_kv"},
    {"key length", "attention.key_length"},
    {"value length", "attention.value_length"},
    {"context", "context_length"},
    {"sliding window", "attention.sliding_window"},
    {"rms eps", "attention.layer_norm_rms_epsilon"},
    {"rope base", "rope.freq_base"},
    {"rope dims", "rope.dimension_count"},
    {"rope scaling", "rope.scaling.type"},
    {"rope factor", "rope.scaling.factor"},
    {"vocab size", "vocab_size"},
    {"experts", "expert_count"},
    {"experts used", "expert_used_count"},
    {"expert ff", "expert_feed_forward_length"},
};

// Special pieces worth naming when present (Gemma 3 and Llama 3 chat markers).
constexpr std::string_view kKnownSpecials[] = {
    "<start_of_turn>",     "<end_of_turn>",     "<|begin_of_text|>", "<|end_of_text|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",        "<|eom_id|>",
    "<|im_start|>",        "<|im_end|>",        "<|endoftext|>"};

json build_info(const GgufFile& file, const std::optional<engine::ResolvedModel>& resolved) {
  json info;
  info["path"] = file.path();
  info["file_bytes"] = file.file_size();
  info["gguf_version"] = file.version();
  info["alignment"] = file.alignment();
  const std::string arch(file.get_string("general.architecture").value_or(""));
  info["architecture"] = arch;
  info["name"] = std::string(file.get_string("general.name").value_or(""));
  const bool synthetic = file.get_bool("chimera.synthetic").value_or(false);
  info["synthetic"] = synthetic;
  info["provenance"] = synthetic ? "synthetic" : "measured";
  if (auto ft = file.get_int("general.file_type")) {
    info["file_type"] = {{"id", *ft}, {"name", std::string(llama_ftype_name(*ft))}};
  }
  json hparams = json::object();
  for (const auto& [label, suffix] : kHyperParams) {
    const engine::GgufMetadata* kv = file.find(arch + "." + std::string(suffix));
    if (kv == nullptr) continue;
    if (auto i = file.get_int(kv->key)) {
      hparams[std::string(suffix)] = *i;
    } else if (auto d = file.get_float(kv->key)) {
      hparams[std::string(suffix)] = *d;
    } else if (auto s = file.get_string(kv->key)) {
      hparams[std::string(suffix)] = std::string(*s);
    } else {
      hparams[std::string(suffix)] = engine::format_gguf_value(*kv);
    }
  }
  info["hyperparameters"] = hparams;
  info["parameters"] = file.parameter_count();
  info["tensor_bytes"] = file.tensor_bytes();
  json by_type = json::object();
  json tensors = json::array();
  for (const auto& t : file.tensors()) {
    const std::string type(engine::ggml_type_name(t.type));
    json& slot = by_type[type];
    if (slot.is_null()) slot = {{"tensors", 0}, {"bytes", 0}, {"parameters", 0}};
    slot["tensors"] = slot["tensors"].get<uint64_t>() + 1;
    slot["bytes"] = slot["bytes"].get<uint64_t>() + t.n_bytes;
    slot["parameters"] = slot["parameters"].get<uint64_t>() + uint64_t(t.n_elements);
    tensors.push_back({{"name", t.name}, {"type", type}, {"shape", t.ne}, {"bytes", t.n_bytes}});
  }
  info["bytes_by_type"] = by_type;
  info["tensors"] = tensors;
  json tok = json::object();
  if (auto model = file.get_string("tokenizer.ggml.model")) tok["model"] = std::string(*model);
  if (auto pre = file.get_string("tokenizer.ggml.pre")) tok["pre"] = std::string(*pre);
  auto pieces = file.get_string_array("tokenizer.ggml.tokens");
  if (pieces.ok()) {
    tok["n_tokens"] = pieces->size();
    json ids = json::object();
    for (std::string_view key : {"bos", "eos", "eot", "eom", "unknown", "padding"}) {
      auto id = file.get_int(fmt::format("tokenizer.ggml.{}_token_id", key));
      if (!id) continue;
      json entry = {{"id", *id}};
      if (*id >= 0 && static_cast<uint64_t>(*id) < pieces->size()) {
        entry["piece"] = std::string((*pieces)[static_cast<size_t>(*id)]);
      }
      ids[std::string(key)] = entry;
    }
    tok["special_ids"] = ids;
    json named = json::object();
    for (size_t i = 0; i < pieces->size(); ++i) {
      for (std::string_view special : kKnownSpecials) {
        if ((*pieces)[i] == special) named[std::string(special)] = i;
      }
    }
    tok["chat_tokens"] = named;
  }
  tok["has_chat_template"] = file.has("tokenizer.chat_template");
  info["tokenizer"] = tok;
  if (resolved) {
    info["ollama"] = {{"name", resolved->name.display()},
                      {"manifest", resolved->manifest_path},
                      {"digest", resolved->gguf_digest},
                      {"has_template", resolved->template_text.has_value()},
                      {"has_params", resolved->params_json.has_value()}};
    if (resolved->params_json) info["ollama"]["params"] = *resolved->params_json;
  }
  return info;
}

std::string shape_text(const json& shape) {
  std::string out;
  for (const auto& d : shape) out += (out.empty() ? "" : " x ") + std::to_string(d.get<int64_t>());
  return out;
}

void print_info_text(const json& info, bool show_tensors) {
  const bool synthetic = info["synthetic"].get<bool>();
  std::printf("%s\n", info["path"].get<std::string>().c_str());
  std::printf("  %-14s %s\n", "name", info["name"].get<std::string>().c_str());
  std::printf("  %-14s %s\n", "architecture", info["architecture"].get<std::string>().c_str());
  std::printf("  %-14s %s\n", "weights",
              synthetic ? "SYNTHETIC (dummy weights; figures from it are tagged synthetic)"
                        : "real (not marked synthetic)");
  if (info.contains("file_type")) {
    std::printf("  %-14s %s\n", "file type", info["file_type"]["name"].get<std::string>().c_str());
  }
  std::printf("  %-14s GGUF v%u, %s, alignment %llu\n", "file",
              info["gguf_version"].get<unsigned>(),
              format_bytes(info["file_bytes"].get<uint64_t>()).c_str(),
              static_cast<unsigned long long>(info["alignment"].get<uint64_t>()));
  std::printf("  %-14s %s (%llu)\n", "parameters",
              format_count(info["parameters"].get<uint64_t>()).c_str(),
              static_cast<unsigned long long>(info["parameters"].get<uint64_t>()));
  if (info.contains("ollama")) {
    std::printf("  %-14s %s (%s)\n", "ollama", info["ollama"]["name"].get<std::string>().c_str(),
                info["ollama"]["digest"].get<std::string>().c_str());
  }
  std::printf("\nhyper-parameters\n");
  for (const auto& [label, suffix] : kHyperParams) {
    auto it = info["hyperparameters"].find(std::string(suffix));
    if (it == info["hyperparameters"].end()) continue;
    std::string value = it->is_string()         ? it->get<std::string>()
                        : it->is_number_float() ? fmt::format("{:g}", float(it->get<double>()))
                                                : it->dump();
    std::printf("  %-14s %s\n", std::string(label).c_str(), value.c_str());
  }
  const json& tok = info["tokenizer"];
  std::printf("\ntokenizer\n");
  if (tok.contains("model")) {
    std::printf(
        "  %-14s %s%s\n", "model", tok["model"].get<std::string>().c_str(),
        tok.contains("pre") ? (" (pre " + tok["pre"].get<std::string>() + ")").c_str() : "");
  }
  if (tok.contains("n_tokens")) {
    std::printf("  %-14s %llu\n", "tokens",
                static_cast<unsigned long long>(tok["n_tokens"].get<uint64_t>()));
    for (const auto& [key, entry] : tok["special_ids"].items()) {
      std::printf("  %-14s %lld %s\n", (key + " id").c_str(),
                  static_cast<long long>(entry["id"].get<int64_t>()),
                  entry.contains("piece")
                      ? entry["piece"].dump(-1, ' ', false, json::error_handler_t::replace).c_str()
                      : "");
    }
    for (const auto& [piece, id] : tok["chat_tokens"].items()) {
      std::printf("  %-14s %s = %llu\n", "special", piece.c_str(),
                  static_cast<unsigned long long>(id.get<uint64_t>()));
    }
  }
  std::printf("  %-14s %s\n", "chat template", tok["has_chat_template"].get<bool>() ? "yes" : "no");
  std::printf("\nbytes by type\n");
  for (const auto& [type, slot] : info["bytes_by_type"].items()) {
    std::printf("  %-6s %4llu tensors %14s params %12s\n", type.c_str(),
                static_cast<unsigned long long>(slot["tensors"].get<uint64_t>()),
                format_count(slot["parameters"].get<uint64_t>()).c_str(),
                format_bytes(slot["bytes"].get<uint64_t>()).c_str());
  }
  if (!show_tensors) return;
  std::printf("\ntensors (%zu)\n", info["tensors"].size());
  for (const auto& t : info["tensors"]) {
    std::printf("  %-34s %-6s %-18s %12s\n", t["name"].get<std::string>().c_str(),
                t["type"].get<std::string>().c_str(), shape_text(t["shape"]).c_str(),
                format_bytes(t["bytes"].get<uint64_t>()).c_str());
  }
}

int run_info(const std::string& spec, bool as_json, bool verify, bool no_tensors) {
  engine::ModelStore store;
  std::optional<engine::ResolvedModel> resolved;
  std::string path = spec;
  if (starts_with(spec, "ollama:")) {
    auto r = store.resolve(spec);
    if (!r.ok()) return report_error(r.status());
    resolved = std::move(r).value();
    path = resolved->gguf_path;
  }
  // Verify first: a corrupt blob is then reported as such, not as whatever its header looks like.
  json verified;
  if (verify) {
    Stopwatch watch;
    if (resolved) {
      Status st = store.verify(*resolved);
      if (!st.is_ok()) return report_error(st);
      verified = {{"sha256", resolved->gguf_digest.substr(7)}, {"matches_manifest", true}};
    } else {
      auto hex = sha256_file_hex(path);
      if (!hex.ok()) return report_error(hex.status());
      verified = {{"sha256", *hex}, {"matches_manifest", nullptr}};
    }
    verified["seconds"] = ns_to_s(watch.elapsed_ns());
  }
  auto file = GgufFile::open(path);
  if (!file.ok()) return report_error(file.status());
  json info = build_info(*file, resolved);
  if (verify) info["verify"] = verified;
  if (as_json) {
    print_json(info);
    return kExitOk;
  }
  print_info_text(info, !no_tensors);
  if (verify) {
    std::printf("\nverify\n  sha256 %s %s\n", info["verify"]["sha256"].get<std::string>().c_str(),
                resolved ? "(matches the manifest)" : "(no manifest digest to compare with)");
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// list

int run_list(bool as_json) {
  engine::ModelStore store;
  std::vector<std::string> warnings;
  auto models = store.list(&warnings);
  if (!models.ok()) return report_error(models.status());
  for (const auto& w : warnings) std::fprintf(stderr, "chimera: warning: %s\n", w.c_str());
  if (as_json) {
    json out = json::array();
    for (const auto& m : *models) {
      out.push_back({{"source", m.source},
                     {"name", m.name},
                     {"path", m.path},
                     {"size_bytes", m.size_bytes},
                     {"digest", m.digest},
                     {"modified_unix_s", m.modified_unix_s}});
    }
    print_json({{"ollama_dir", store.ollama_dir()},
                {"cache_dir", store.cache_models_dir()},
                {"models", out}});
    return kExitOk;
  }
  if (models->empty()) {
    std::printf("no models in %s or %s\n", store.ollama_dir().c_str(),
                store.cache_models_dir().c_str());
    return kExitOk;
  }
  std::printf("%-40s %-7s %10s  %s\n", "NAME", "SOURCE", "SIZE", "PATH");
  for (const auto& m : *models) {
    std::printf("%-40s %-7s %10s  %s\n", m.name.c_str(), m.source.c_str(),
                format_bytes(m.size_bytes).c_str(), m.path.c_str());
  }
  return kExitOk;
}

}  // namespace

void register_model(CLI::App& app) {
  auto* model =
      app.add_subcommand("model", "Make dummy-weight GGUF models, inspect GGUF files, list models");
  model->require_subcommand(1);

  auto synth_args = std::make_shared<SynthArgs>();
  auto* synth = model->add_subcommand(
      "synth", "Write a GGUF with real shapes and metadata but deterministic dummy weights");
  engine::SynthOptions& o = synth_args->options;
  synth->add_option("--arch", o.arch, "gemma3 | llama | qwen2 | qwen3 | qwen3moe | gpt-oss")
      ->capture_default_str();
  synth
      ->add_option("--size", o.size,
                   "gemma3: 270m, 1b, 4b; llama: 3.2-1b (or 1b), 3.1-8b (or 8b); qwen2: 0.5b, "
                   "1.5b, 7b; qwen3: 0.6b, 1.7b, 4b, 8b; qwen3moe: 30b-a3b; gpt-oss: 20b; every "
                   "arch: tiny")
      ->capture_default_str();
  synth
      ->add_option("--type", synth_args->type,
                   "f32 | f16 | bf16 | q8_0 | q4_0 | q4_1 | q5_1 | q4_k_m | q5_k_m | q6_k | mxfp4_moe (gpt-oss: experts "
                   "always MXFP4; default mxfp4_moe, the rest Q8_0)")
      ->capture_default_str()
      ->each([synth_args](const std::string&) { synth_args->type_given = true; });
  synth->add_option(
      "--vocab", o.vocab,
      "gemma3 | llama3_1 | llama3 | qwen3 | qwen2_5 | gptoss | synthetic:N (default: the arch's "
      "own; tiny: synthetic:512)");
  synth->add_option("--seed", o.seed, "weights seed")->capture_default_str();
  synth->add_option("--layers", o.n_layers, "override: number of blocks");
  synth->add_option("--embd", o.d_model, "override: embedding length (d_model)");
  synth->add_option("--ff", o.d_ff, "override: feed-forward length");
  synth->add_option("--heads", o.n_heads, "override: attention heads");
  synth->add_option("--kv-heads", o.n_kv_heads, "override: key/value heads");
  synth->add_option("--head-dim", o.head_dim, "override: head dimension");
  synth->add_option("--ctx", o.context_length, "override: context length");
  synth->add_option("--window", o.sliding_window, "override: sliding window (gemma3, gpt-oss)");
  synth->add_option("--threads", o.n_threads, "threads for generating and quantizing")
      ->capture_default_str();
  synth->add_option("-o,--output", synth_args->output,
                    "output file (default: <cache>/models/<arch>-<size>-<type>.gguf)");
  synth->add_flag("--json", synth_args->json, "print the result as JSON");
  synth->callback([synth_args] { set_exit_code(run_synth(*synth_args)); });

  struct InfoArgs {
    std::string spec;
    bool json = false, verify = false, no_tensors = false;
  };
  auto info_args = std::make_shared<InfoArgs>();
  auto* info = model->add_subcommand(
      "info", "Architecture, hyper-parameters, tensors and tokenizer of a GGUF (header only)");
  info->add_option("model", info_args->spec, "PATH.gguf or ollama:NAME[:TAG]")->required();
  info->add_flag("--json", info_args->json, "print as JSON");
  info->add_flag("--verify", info_args->verify,
                 "hash the weights (sha256; compared with the manifest for Ollama models)");
  info->add_flag("--no-tensors", info_args->no_tensors, "omit the per-tensor table");
  info->callback([info_args] {
    set_exit_code(
        run_info(info_args->spec, info_args->json, info_args->verify, info_args->no_tensors));
  });

  auto list_json = std::make_shared<bool>(false);
  auto* list = model->add_subcommand("list", "Ollama models and cached GGUFs on this machine");
  list->add_flag("--json", *list_json, "print as JSON");
  list->callback([list_json] { set_exit_code(run_list(*list_json)); });
}

}  // namespace chimera::cli
