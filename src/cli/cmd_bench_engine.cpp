#include "cli/command.h"

namespace chimera::cli {

void register_bench_engine(CLI::App& bench) {
  auto* sub = bench.add_subcommand("engine", "(not built yet)");
  sub->callback([] {
    set_exit_code(report_error(Status(ErrorCode::kUnsupported, "'bench engine' is not built yet")));
  });
}

}  // namespace chimera::cli
