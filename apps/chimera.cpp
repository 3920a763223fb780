#include "cli/command.h"

int main(int argc, char** argv) { return chimera::cli::main(argc, argv); }
