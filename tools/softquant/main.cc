// The `softquant` command line: quantize, run and evaluate ONNX transformer models.
#include <algorithm>
#include <iostream>
#include <new>
#include <string>

#include "runtime/core/error.h"
#include "tools/softquant/commands.h"

namespace {

// Every failure is exactly one line on stderr, even when the message quotes names from a file.
int fail(std::string message, int exit_code) {
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::replace(message.begin(), message.end(), '\r', ' ');
  std::cerr << "softquant: error: " << message << "\n";
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "softquant: post-training quantization with softmax bias correction, and an int8 runtime "
      "for transformer models (OPT, Stable Diffusion attention blocks)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "softquant 0.1.0");
  sq::cli::add_run_command(app);
  sq::cli::add_models_command(app);
  sq::cli::add_quantize_command(app);
  sq::cli::add_eval_command(app);
  sq::cli::add_compare_command(app);
  sq::cli::add_sweep_command(app);
  sq::cli::add_bench_command(app);
  sq::cli::add_compile_command(app);
  sq::cli::add_generate_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return fail(std::string(e.what()) + " (run with --help for usage)", 2);
  } catch (const sq::Error& e) {
    return fail(e.what(), 1);
  } catch (const std::bad_alloc&) {
    return fail("out of memory", 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
  return 0;
}
