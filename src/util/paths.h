// Where Chimera keeps things: XDG-style directories, overridable by environment.
#pragma once

#include <string>

#include "util/status.h"

namespace chimera {

// $CHIMERA_CACHE_DIR, else $XDG_CACHE_HOME/chimera, else ~/.cache/chimera (synthesized models).
std::string cache_dir();
// $CHIMERA_DATA_DIR, else $XDG_DATA_HOME/chimera, else ~/.local/share/chimera (results.db).
std::string data_dir();
// $OLLAMA_MODELS, else ollama_models in the config file (util/config.h), else ~/.ollama/models.
std::string ollama_models_dir();
// Chimera's shipped read-only files (profiles/, roles/, examples/data/): $CHIMERA_SHARE_DIR, else
// <prefix>/share/chimera beside an installed binary (<prefix>/bin/chimera, found through
// /proc/self/exe), else the source tree a build-tree binary was built from; "" when none exists.
std::string share_dir();
// The benchmark-data folder commands read by default: the example data shipped with Chimera
// (share_dir()/examples/data), or "examples/data" (relative) when there is no share folder.
std::string default_data_folder();
// The folder of the config file (util/config.h), where a user's own profiles/ and roles/ may live.
std::string config_dir();
// The tokenizer vocabularies fetched by scripts/fetch-vocab.sh: $CHIMERA_VOCAB_DIR, else
// <source dir>/.data/vocab when built from a checkout, else <cache_dir>/vocab.
std::string vocab_dir();
std::string home_dir();
// Creates a directory and its parents; ok if it exists.
Status ensure_directory(const std::string& path);

}  // namespace chimera
