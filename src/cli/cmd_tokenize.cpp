#include "cli/command.h"

namespace chimera::cli {

void register_tokenize(CLI::App& app) {
  auto* sub = app.add_subcommand("tokenize", "(not built yet)");
  sub->callback([] {
    set_exit_code(report_error(Status(ErrorCode::kUnsupported, "'tokenize' is not built yet")));
  });
}

}  // namespace chimera::cli
