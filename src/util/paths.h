// Where Chimera keeps things: XDG-style directories, overridable by environment.
#pragma once

#include <string>

#include "util/status.h"

namespace chimera {

// $CHIMERA_CACHE_DIR, else $XDG_CACHE_HOME/chimera, else ~/.cache/chimera (synthesized models).
std::string cache_dir();
// $CHIMERA_DATA_DIR, else $XDG_DATA_HOME/chimera, else ~/.local/share/chimera (results.db).
std::string data_dir();
// $OLLAMA_MODELS, else ~/.ollama/models.
std::string ollama_models_dir();
// The tokenizer vocabularies fetched by scripts/fetch-vocab.sh: $CHIMERA_VOCAB_DIR, else
// <source dir>/.data/vocab when built from a checkout, else <cache_dir>/vocab.
std::string vocab_dir();
std::string home_dir();
// Creates a directory and its parents; ok if it exists.
Status ensure_directory(const std::string& path);

}  // namespace chimera
