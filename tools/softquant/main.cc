// The `softquant` command line: quantize, run and evaluate ONNX transformer models.
#include <iostream>

#include "runtime/core/error.h"
#include "tools/softquant/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "softquant: post-training quantization with softmax bias correction, and an int8 runtime "
      "for transformer models (OPT, Stable Diffusion attention blocks)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "softquant 0.1.0");
  sq::cli::add_run_command(app);
  sq::cli::add_models_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const sq::Error& e) {
    std::cerr << "softquant: error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "softquant: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "softquant: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
