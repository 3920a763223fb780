#include "util/build_info.h"

#include "git_commit.h"  // generated at build time: CHIMERA_GIT_COMMIT

namespace chimera {

const BuildInfo& build_info() {
  static const BuildInfo info{CHIMERA_VERSION, CHIMERA_GIT_COMMIT, CHIMERA_BUILD_TYPE,
                              CHIMERA_COMPILER};
  return info;
}

}  // namespace chimera
