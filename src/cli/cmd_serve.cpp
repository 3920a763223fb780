#include "cli/command.h"

namespace chimera::cli {

void register_serve(CLI::App& app) {
  auto* sub = app.add_subcommand("serve", "(not built yet)");
  sub->callback([] {
    set_exit_code(report_error(Status(ErrorCode::kUnsupported, "'serve' is not built yet")));
  });
}

}  // namespace chimera::cli
