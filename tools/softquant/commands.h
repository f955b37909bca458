// Why this exists: each `softquant` subcommand lives in its own file and registers itself on the
// CLI11 app through one of these functions; main.cc only wires them up and turns sq::Error into
// a one-line message and a non-zero exit.
#pragma once

#include <CLI/CLI.hpp>

namespace sq::cli {

void add_run_command(CLI::App& app);
void add_models_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_compile_command(CLI::App& app);
void add_generate_command(CLI::App& app);

}  // namespace sq::cli
