#include "cli/command.h"

namespace chimera::cli {

void register_generate(CLI::App& app) {
  auto* sub = app.add_subcommand("generate", "(not built yet)");
  sub->callback([] {
    set_exit_code(report_error(Status(ErrorCode::kUnsupported, "'generate' is not built yet")));
  });
}

}  // namespace chimera::cli
