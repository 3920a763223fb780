// chimera(1), written from the command line's own definition: every subcommand and option with its
// description and default as `--help` prints them, the configuration keys and environment variables
// from util/config's table, the files, and the exit codes. The build runs `chimera --manpage` (a
// hidden flag) and installs the result, so the page cannot drift from the program.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace chimera::cli {

// The page in man(7) roff. Defaults that depend on where the binary runs (the shipped example
// data) are written as what they mean rather than as this machine's path.
std::string render_manpage(const CLI::App& app);

// Adds the hidden --manpage flag: prints render_manpage(app) and exits 0.
void add_manpage_flag(CLI::App& app);

}  // namespace chimera::cli
