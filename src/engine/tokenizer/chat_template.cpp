// Chat templates as text: Gemma, Llama 3, Qwen (ChatML) and gpt-oss (harmony) formats (see
// chat_template.h for the exact strings).
#include "engine/tokenizer/chat_template.h"

#include <cstdint>
#include <ctime>

namespace chimera::engine {

namespace {

// Python's str.isspace() set, the one Jinja's trim uses.
bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Decodes the code point starting at text[i] (invalid bytes count as themselves, never as space).
uint32_t code_point_at(std::string_view text, size_t i, size_t* length) {
  auto b0 = static_cast<uint8_t>(text[i]);
  size_t n = b0 < 0x80           ? 1
             : (b0 >> 5) == 0x6  ? 2
             : (b0 >> 4) == 0xE  ? 3
             : (b0 >> 3) == 0x1E ? 4
                                 : 1;
  if (i + n > text.size()) n = 1;
  uint32_t cp = n == 1 ? b0 : n == 2 ? (b0 & 0x1Fu) : n == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u);
  for (size_t k = 1; k < n; ++k) {
    auto b = static_cast<uint8_t>(text[i + k]);
    if ((b & 0xC0) != 0x80) {
      *length = 1;
      return 0xFFFFFFFFu;
    }
    cp = (cp << 6) | (b & 0x3Fu);
  }
  *length = n;
  return n == 1 && b0 >= 0x80 ? 0xFFFFFFFFu : cp;
}

void render_gemma(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                  std::string& out) {
  size_t first = 0;
  std::string prefix;
  if (!messages.empty() && messages[0].role == "system") {
    if (messages.size() == 1) {
      out += "<start_of_turn>user\n";
      out += trim_like_jinja(messages[0].content);
      out += "<end_of_turn>\n";
    }
    prefix = messages[0].content + "\n\n";
    first = 1;
  }
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    std::string_view role = m.role;
    if (role == "assistant") role = "model";
    if (role == "system") role = "user";
    out += "<start_of_turn>";
    out += role;
    out += '\n';
    if (i == first) out += prefix;
    out += trim_like_jinja(m.content);
    out += "<end_of_turn>\n";
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
}

void render_llama3(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                   std::string& out) {
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>";
    out += m.role;
    out += "<|end_header_id|>\n\n";
    out += trim_like_jinja(m.content);
    out += "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

// Qwen3's template: an earlier assistant turn keeps only what follows its last </think>, without
// the newlines that open it.
std::string_view without_reasoning(std::string_view content) {
  const size_t close = content.rfind("</think>");
  if (close == std::string_view::npos) return content;
  content.remove_prefix(close + 8);
  while (!content.empty() && content.front() == '\n') content.remove_prefix(1);
  return content;
}

void render_chatml(const std::vector<ChatMessage>& messages, bool add_generation_prompt, bool qwen3,
                   Think think, std::string& out) {
  if (!qwen3 && (messages.empty() || messages[0].role != "system")) {
    out +=
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
        "assistant.<|im_end|>\n";
  }
  size_t last_user = messages.size();
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "user") last_user = i;
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    std::string_view content = m.content;
    if (qwen3 && m.role == "assistant" && (last_user == messages.size() || i < last_user)) {
      content = without_reasoning(content);
    }
    out += "<|im_start|>";
    out += m.role;
    out += '\n';
    out += content;
    out += "<|im_end|>\n";
  }
  if (add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    // Qwen3's enable_thinking=false: the reasoning block comes already closed, empty.
    if (qwen3 && think == Think::kOff) out += "<think>\n\n</think>\n\n";
  }
}

// An assistant turn re-sent in a prompt is its final message only (the template drops the
// chain of thought): a reply kept with its harmony markup gives up what precedes its final channel.
std::string_view harmony_final_text(std::string_view content) {
  constexpr std::string_view kFinal = "<|channel|>final<|message|>";
  const size_t at = content.rfind(kFinal);
  if (at == std::string_view::npos) return content;
  content.remove_prefix(at + kFinal.size());
  for (std::string_view end : {"<|return|>", "<|end|>"}) {
    if (content.ends_with(end)) content.remove_suffix(end.size());
  }
  return content;
}

std::string utc_date_today() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// gpt-oss's harmony format (engine-reference-models.md §6, models/templates/openai-gpt-oss-120b):
// the system block, a developer block for a system prompt, user turns, earlier assistant turns as
// final-channel messages; the generation prompt opens an assistant message whose channel the model
// chooses.
void render_harmony(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                    std::string_view date, Think think, std::string& out) {
  out += "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
         "Knowledge cutoff: 2024-06\nCurrent date: ";
  out += date.empty() ? utc_date_today() : std::string(date);
  // Ollama's gpt-oss template: the level asked for, medium by default, no line when think is off
  // (the model still reasons: harmony has no way to turn it off).
  const std::string_view level = think == Think::kLow    ? "low"
                                 : think == Think::kHigh ? "high"
                                 : think == Think::kOff  ? ""
                                                         : "medium";
  if (!level.empty()) {
    out += "\n\nReasoning: ";
    out += level;
  }
  out +=
      "\n\n# Valid channels: analysis, commentary, final. Channel must be included for every "
      "message.<|end|>";
  size_t first = 0;
  if (!messages.empty() && (messages[0].role == "system" || messages[0].role == "developer")) {
    first = 1;
    if (!messages[0].content.empty()) {
      out += "<|start|>developer<|message|># Instructions\n\n";
      out += messages[0].content;
      out += "\n\n<|end|>";
    }
  }
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "assistant") {
      const bool last = i + 1 == messages.size() && !add_generation_prompt;
      out += "<|start|>assistant<|channel|>final<|message|>";
      out += harmony_final_text(m.content);
      out += last ? "<|return|>" : "<|end|>";
    } else if (m.role == "user") {
      out += "<|start|>user<|message|>";
      out += m.content;
      out += "<|end|>";
    }
  }
  if (add_generation_prompt) out += "<|start|>assistant";
}

}  // namespace

std::string_view trim_like_jinja(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    size_t len = 1;
    if (!is_python_space(code_point_at(text, begin, &len))) break;
    begin += len;
  }
  size_t end = text.size();
  while (end > begin) {
    // Step back to the start of the last character.
    size_t start = end - 1;
    while (start > begin && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80 && end - start < 4) {
      --start;
    }
    size_t len = 1;
    uint32_t cp = code_point_at(text, start, &len);
    if (start + len != end || !is_python_space(cp)) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

ChatFamily chat_family_for_architecture(std::string_view architecture) {
  if (architecture.substr(0, 5) == "gemma") return ChatFamily::kGemma;
  if (architecture == "llama") return ChatFamily::kLlama3;
  if (architecture == "qwen2") return ChatFamily::kQwen2;
  if (architecture == "qwen3" || architecture == "qwen3moe") return ChatFamily::kQwen3;
  if (architecture == "gpt-oss") return ChatFamily::kHarmony;
  return ChatFamily::kRaw;
}

std::string_view chat_family_name(ChatFamily family) {
  switch (family) {
    case ChatFamily::kGemma:
      return "gemma";
    case ChatFamily::kLlama3:
      return "llama3";
    case ChatFamily::kQwen2:
      return "qwen2";
    case ChatFamily::kQwen3:
      return "qwen3";
    case ChatFamily::kHarmony:
      return "harmony";
    case ChatFamily::kRaw:
      return "raw";
  }
  return "raw";
}

std::optional<ChatFamily> parse_chat_family(std::string_view name) {
  if (name == "gemma" || name == "gemma3") return ChatFamily::kGemma;
  if (name == "llama3" || name == "llama") return ChatFamily::kLlama3;
  if (name == "qwen2" || name == "qwen2.5") return ChatFamily::kQwen2;
  if (name == "qwen3" || name == "qwen3moe" || name == "chatml") return ChatFamily::kQwen3;
  if (name == "harmony" || name == "gpt-oss") return ChatFamily::kHarmony;
  if (name == "raw") return ChatFamily::kRaw;
  return std::nullopt;
}

std::optional<Think> parse_think_level(std::string_view level) {
  if (level == "low") return Think::kLow;
  if (level == "medium") return Think::kMedium;
  if (level == "high" || level == "max") return Think::kHigh;
  return std::nullopt;
}

std::string_view think_name(Think think) {
  switch (think) {
    case Think::kDefault:
      return "default";
    case Think::kOff:
      return "false";
    case Think::kOn:
      return "true";
    case Think::kLow:
      return "low";
    case Think::kMedium:
      return "medium";
    case Think::kHigh:
      return "high";
  }
  return "default";
}

bool has_thinking_mode(ChatFamily family) {
  return family == ChatFamily::kQwen3 || family == ChatFamily::kHarmony;
}

std::string render_chat(ChatFamily family, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt, std::string_view date, Think think) {
  std::string out;
  switch (family) {
    case ChatFamily::kGemma:
      render_gemma(messages, add_generation_prompt, out);
      break;
    case ChatFamily::kLlama3:
      render_llama3(messages, add_generation_prompt, out);
      break;
    case ChatFamily::kQwen2:
    case ChatFamily::kQwen3:
      render_chatml(messages, add_generation_prompt, family == ChatFamily::kQwen3, think, out);
      break;
    case ChatFamily::kHarmony:
      render_harmony(messages, add_generation_prompt, date, think, out);
      break;
    case ChatFamily::kRaw:
      for (const ChatMessage& m : messages) out += m.content;
      break;
  }
  return out;
}

}  // namespace chimera::engine
