// What built this binary, for self-describing benchmark rows and report footers.
#pragma once

#include <string>

namespace chimera {

struct BuildInfo {
  std::string version;     // "0.1.0"
  std::string git_commit;  // short hash at configure time
  std::string build_type;  // Release / Debug / RelWithDebInfo
  std::string compiler;    // "GNU 12.2.0"
};

const BuildInfo& build_info();

}  // namespace chimera
