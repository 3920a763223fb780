// Temporary: the engine engineer replaces this file with src/llm/embedded_backend.cpp, the real
// EmbeddedBackend. Until then embedded specs fail with a clear error instead of a link error.
#include "llm/backend.h"

namespace chimera::llm {

Result<std::unique_ptr<Backend>> make_embedded_backend(const BackendSpec& spec) {
  return make_error(
      ErrorCode::kUnsupported,
      "{}: the embedded engine is not built into this binary yet; use ollama://host:port/MODEL "
      "or openai://host:port/MODEL",
      spec.location);
}

}  // namespace chimera::llm
