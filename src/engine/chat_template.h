// Native chat templates (engine-reference.md §3.1 step 8, §3.2 step 6) producing prompt text with special
// tokens, to be encoded with parse_special = true.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chimera::engine {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatFamily { kGemma, kLlama3, kRaw };
ChatFamily chat_family_for_architecture(std::string_view architecture);

// Renders messages and, when add_generation_prompt, the opening of the assistant turn. The BOS token is
// not included (the tokenizer adds it). Gemma has no system role: the system text is prepended to the
// first user message.
std::string render_chat(ChatFamily family, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt = true);

}  // namespace chimera::engine
