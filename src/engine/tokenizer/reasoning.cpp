#include "engine/tokenizer/reasoning.h"

#include "engine/tokenizer/harmony_channels.h"
#include "engine/tokenizer/think_tags.h"

namespace chimera::engine {

std::unique_ptr<ReplySplitter> reply_splitter_for(ChatFamily family, Think think) {
  if (family == ChatFamily::kHarmony) return std::make_unique<HarmonyChannels>();
  if (family == ChatFamily::kQwen3 && think != Think::kOff) return std::make_unique<ThinkTags>();
  return nullptr;
}

Status check_think(ChatFamily family, Think think, std::string_view architecture,
                   std::string_view asked) {
  if (think == Think::kDefault || think == Think::kOff || has_thinking_mode(family)) {
    return Status::ok();
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "{}: this model (architecture {}) has no thinking mode; leave it out or turn "
                    "thinking off (models with one: qwen3 and qwen3moe, on or off; gpt-oss, at "
                    "levels low, medium and high)",
                    asked, architecture.empty() ? "unknown" : architecture);
}

}  // namespace chimera::engine
