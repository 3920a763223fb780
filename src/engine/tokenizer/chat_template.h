// Native chat templates (engine-reference.md §3.1 step 8, §3.2 step 6) producing prompt text with
// special tokens, to be encoded with parse_special = true. They reproduce the Jinja templates
// shipped with the models (Gemma 3 tokenizer_config.json, Llama 3 tokenizer_config.json) without a
// Jinja engine.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chimera::engine {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatFamily { kGemma, kLlama3, kQwen2, kQwen3, kHarmony, kRaw };

// Thinking (reasoning) mode, as Ollama's `think` asks for it: unset (the model's default), off,
// on, or one of gpt-oss's reasoning levels. Families with a thinking mode: kQwen3 (on or off;
// a level means on, as in Ollama) and kHarmony (levels; it reasons whatever is asked).
enum class Think { kDefault, kOff, kOn, kLow, kMedium, kHigh };
// "low", "medium", "high", and "max", which Ollama also takes and gives gpt-oss as "high".
std::optional<Think> parse_think_level(std::string_view level);
// "default", "false", "true", "low", "medium", "high"
std::string_view think_name(Think think);
bool has_thinking_mode(ChatFamily family);
// "gemma", "gemma2", "gemma3" -> kGemma; "llama" -> kLlama3; "qwen2" -> kQwen2; "qwen3",
// "qwen3moe" -> kQwen3; "gpt-oss" -> kHarmony; anything else -> kRaw.
ChatFamily chat_family_for_architecture(std::string_view architecture);
// "gemma", "llama3", "qwen2", "qwen3", "harmony", "raw"
std::string_view chat_family_name(ChatFamily family);
std::optional<ChatFamily> parse_chat_family(std::string_view name);

// Renders messages and, when add_generation_prompt, the opening of the assistant turn. The BOS
// token is not included (the tokenizer adds it).
//  - Gemma: `<start_of_turn>{user|model}\n{content}<end_of_turn>\n`, generation prompt
//    `<start_of_turn>model\n`. No system role: a leading system message's text + "\n\n" is
//    prepended to the first turn (a system message alone becomes a user turn); later system
//    messages render as user turns, as Ollama's template does. Contents are trimmed as Jinja's
//    `trim` (Python strip) does, the system prefix is not.
//  - Llama 3: `<|start_header_id|>{role}<|end_header_id|>\n\n{trimmed content}<|eot_id|>` per
//  message,
//    generation prompt `<|start_header_id|>assistant<|end_header_id|>\n\n`.
//  - Qwen (ChatML, engine-reference-models.md §6): `<|im_start|>{role}\n{content}<|im_end|>\n` per
//    message, contents as they are; generation prompt `<|im_start|>assistant\n`. Qwen2.5 opens with
//    the system turn "You are Qwen, created by Alibaba Cloud. You are a helpful assistant." when
//    the messages have none; Qwen3 has no default system turn, and drops the reasoning
//    (`<think>...</think>`) of assistant turns before the last user turn, as its template does.
//    Qwen3 with think kOff: the generation prompt is followed by an empty reasoning block,
//    `<think>\n\n</think>\n\n`, as its template does with enable_thinking=false.
//  - Harmony (gpt-oss, engine-reference-models.md §6): `<|start|>system<|message|>You are ChatGPT,
//    a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date:
//    {date}\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel must
//    be included for every message.<|end|>`; a system message becomes
//    `<|start|>developer<|message|># Instructions\n\n{system}\n\n<|end|>`; user turns
//    `<|start|>user<|message|>{text}<|end|>`; earlier assistant turns
//    `<|start|>assistant<|channel|>final<|message|>{final text}<|end|>` (their chain of thought
//    dropped; a closing assistant turn without a generation prompt ends in <|return|>);
//    generation prompt `<|start|>assistant`. `date` (YYYY-MM-DD) defaults to today in UTC.
//    The reasoning line follows `think` as Ollama's gpt-oss template has it: `Reasoning: medium`
//    when unset or on, the level asked for, and no line at all (with its blank line) when off.
//  - Raw: the contents concatenated as they are.
std::string render_chat(ChatFamily family, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt = true, std::string_view date = {},
                        Think think = Think::kDefault);

// Jinja's `trim` filter: strips what Python's str.strip() strips (Unicode whitespace).
std::string_view trim_like_jinja(std::string_view text);

}  // namespace chimera::engine
