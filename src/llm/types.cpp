#include "llm/types.h"

namespace chimera::llm {

std::string_view token_count_source_name(TokenCountSource source) {
  switch (source) {
    case TokenCountSource::kNone:
      return "none";
    case TokenCountSource::kServer:
      return "server";
    case TokenCountSource::kEngine:
      return "engine";
    case TokenCountSource::kChunks:
      return "chunks";
  }
  return "unknown";
}

}  // namespace chimera::llm
