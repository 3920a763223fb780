#include "util/build_info.h"

namespace chimera {

const BuildInfo& build_info() {
  static const BuildInfo info{CHIMERA_VERSION, CHIMERA_GIT_COMMIT, CHIMERA_BUILD_TYPE,
                              CHIMERA_COMPILER};
  return info;
}

}  // namespace chimera
