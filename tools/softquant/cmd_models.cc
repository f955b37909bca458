// `softquant models`: builders for OPT decoders and SD v1.5 attention blocks (placeholder).
#include "tools/softquant/commands.h"

namespace sq::cli {

void add_models_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("models", "Build reference transformer graphs");
  cmd->require_subcommand(1);
}

}  // namespace sq::cli
