#include <cstdio>

#include "cli/command.h"
#include "cli/manpage.h"
#include "util/build_info.h"
#include "util/config.h"
#include "util/log.h"

namespace chimera::cli {
namespace {
int g_exit_code = kExitOk;
}  // namespace

void set_exit_code(int code) { g_exit_code = code; }
int exit_code() { return g_exit_code; }

int report_error(const Status& status) {
  std::fprintf(stderr, "chimera: %s\n", status.message().c_str());
  return status.code() == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

int main(int argc, char** argv) {
  CLI::App app{"Chimera: grounded LLM reports, honest measurement, and an embedded GGUF engine"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", [] {
    const BuildInfo& b = build_info();
    return "chimera " + b.version + " (" + b.git_commit + ", " + b.build_type + ", " + b.compiler + ")";
  });

  register_run(app);
  register_agents(app);
  register_generate(app);
  register_bench(app);
  register_serve(app);
  register_model(app);
  register_tokenize(app);
  register_results(app);
  register_tune(app);
  register_config(app);
  add_manpage_flag(app);

  // A broken config file or variable stops every command (as git does): ignoring it would run with
  // defaults the user did not choose.
  if (Status s = check_user_config(); !s.is_ok()) return report_error(s);
  if (const auto& file = user_config_file(); file.ok()) {
    for (const auto& w : file->warnings) std::fprintf(stderr, "chimera: warning: %s\n", w.c_str());
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return exit_code();
}

}  // namespace chimera::cli
