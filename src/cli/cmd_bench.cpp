#include "cli/command.h"

namespace chimera::cli {

void register_bench(CLI::App& app) {
  auto* sub = app.add_subcommand("bench", "(not built yet)");
  register_bench_engine(*sub);
  sub->callback([] {
    set_exit_code(report_error(Status(ErrorCode::kUnsupported, "'bench' is not built yet")));
  });
}

}  // namespace chimera::cli
