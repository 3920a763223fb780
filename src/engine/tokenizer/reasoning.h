// The thinking (reasoning) mode of a chat reply, the same for serve and generate: whether a model
// can honour a think setting, and which splitter separates its reasoning from its answer.
#pragma once

#include <memory>
#include <string_view>

#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/reply_splitter.h"
#include "util/status.h"

namespace chimera::engine {

// Which splitter a templated reply needs, as Ollama splits it:
//  - gpt-oss (kHarmony): always harmony channels; it reasons whatever think says, and with think
//    off Ollama still returns the analysis channel as the thinking (its harmony parser ignores
//    think), so the reasoning never lands in the answer;
//  - Qwen 3 (kQwen3): <think> tags unless think is off (the prompt then closes the reasoning
//    block and the reply is all answer); unset counts as on, as Ollama turns thinking on for a
//    model that has it when the request does not say;
//  - others: none (null), the reply is the answer.
std::unique_ptr<ReplySplitter> reply_splitter_for(ChatFamily family, Think think);

// Whether `architecture` (whose chat family is `family`) can honour `think`: on or a level for a
// model without a thinking mode is kInvalidArgument naming how it was asked (`asked`: "think
// true", "--think high", "reasoning_effort \"low\""), the architecture and what to send instead.
// Off and unset are always accepted, a level on Qwen 3 means on (as in Ollama).
Status check_think(ChatFamily family, Think think, std::string_view architecture,
                   std::string_view asked);

}  // namespace chimera::engine
