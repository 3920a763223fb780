#include "cli/command.h"

namespace chimera::cli {

void register_run(CLI::App& app) {
  auto* sub = app.add_subcommand("run", "(not built yet)");
  sub->callback([] {
    set_exit_code(report_error(Status(ErrorCode::kUnsupported, "'run' is not built yet")));
  });
}

}  // namespace chimera::cli
