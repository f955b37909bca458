// `softquant sweep`: accuracy over a grid of weight / activation / softmax bits, softmax grids and
// bias corrections; writes DIR/results.json, DIR/report.md and DIR/report.html. A re-run with the
// same model and data evaluates only the points results.json does not hold yet.
#include <filesystem>
#include <iostream>

#include "quantizer/sweep.h"
#include "runtime/core/error.h"
#include "runtime/engine/constant_folding.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/atomic_file.h"
#include "runtime/io/read_file.h"
#include "tools/softquant/commands.h"
#include "tools/softquant/report.h"

namespace sq::cli {

namespace {

struct SweepArgs {
  std::string model, calib, tokens, inputs, out, engine = "sim";
  int64_t context = 512, calib_samples = 0, max_windows = 0, max_samples = 0;
  std::vector<int> weight_bits{8}, act_bits{8}, softmax_bits{4, 6, 8, 10, 12, 16};
  std::vector<std::string> grids{"fixed"}, corrections{"none", "tensor", "head", "length"}, forms{"offset"};
  int threads = 2;
};

void sweep_command(const SweepArgs& a) {
  SQ_CHECK(a.tokens.empty() != a.inputs.empty(), "give exactly one of --tokens FILE.npy (perplexity) or --inputs DIR (SQNR vs FP32)");
  SQ_CHECK(a.max_windows == 0 || !a.tokens.empty(), "--max-windows applies to --tokens; use --max-samples with --inputs");
  SQ_CHECK(a.max_samples == 0 || !a.inputs.empty(), "--max-samples applies to --inputs; use --max-windows with --tokens");
  SQ_CHECK(a.engine == "sim", "--engine '", a.engine, "': sweeps evaluate quantized models with the QDQ simulation, so only sim is supported");

  SweepAxes axes;
  axes.weight_bits = a.weight_bits;
  axes.act_bits = a.act_bits;
  axes.softmax_bits = a.softmax_bits;
  axes.grids.clear();
  for (const auto& g : a.grids) axes.grids.push_back(parse_softmax_grid(g));
  axes.corrections.clear();
  for (const auto& c : a.corrections) axes.corrections.push_back(parse_bc_granularity(c));
  axes.forms.clear();
  for (const auto& f : a.forms) axes.forms.push_back(parse_bc_form(f));
  std::vector<SweepPoint> points = expand_sweep(axes);

  // Check the output folder before loading anything large.
  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  SQ_CHECK(!ec && std::filesystem::is_directory(a.out), "--out '", a.out, "': cannot create the folder (",
           ec ? ec.message() : "not a directory", ")");
  const std::string results_path = a.out + "/results.json";
  { AtomicFile probe; probe.open(results_path); }

  Model loaded = load_onnx(a.model);
  int folded = fold_constants(loaded);
  if (folded > 0) std::cerr << "softquant: folded " << folded << " constant node(s) into initializers\n";
  auto model = std::make_shared<const Model>(std::move(loaded));

  SweepSettings settings;
  settings.model_path = a.model;
  settings.calib = a.calib;
  settings.eval = a.tokens.empty() ? "inputs:" + a.inputs : "tokens:" + a.tokens;
  settings.context = a.context;
  settings.calib_samples = a.calib_samples;
  settings.max_eval = a.tokens.empty() ? a.max_samples : a.max_windows;
  settings.threads = a.threads;
  SweepHooks hooks;
  hooks.on_start = [&](const SweepSummary& s) {
    std::cerr << "softquant: sweep: " << s.points << " point(s): " << s.points - s.skipped << " to evaluate, "
              << s.skipped << " skipped (already in " << results_path << ")\n";
  };
  SweepSummary summary = run_sweep(model, points, settings, results_path, hooks);

  Json results = Json::parse(read_file_bytes(results_path, "a sweep results.json file"), results_path);
  write_sweep_reports(results, a.out);
  std::cout << sweep_text_summary(results);
  std::cout << "evaluated " << summary.evaluated << " point(s), skipped " << summary.skipped << "; "
            << summary.calibrations << " calibration pass(es)\n";
  std::cout << "results -> " << results_path << "\nreport  -> " << a.out << "/report.html (and report.md)\n";
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "Quantize and evaluate a model over a grid of settings (weight/activation/softmax bits, softmax grid, bias "
      "correction and form); writes results.json, report.md and report.html, and skips points already measured");
  cmd->add_option("model", a->model, "FP32 ONNX model")->required();
  cmd->add_option("--calib", a->calib, "Calibration data: tokens:IDS.npy or inputs:DIR")->required();
  cmd->add_option("--tokens", a->tokens, "Evaluation token ids (1-D int64 .npy): perplexity");
  cmd->add_option("--inputs", a->inputs, "Evaluation samples (one subfolder of <input>.npy each): SQNR of every output vs the FP32 model");
  cmd->add_option("-o,--out", a->out, "Output folder for results.json, report.md, report.html")->required();
  cmd->add_option("--softmax-bits", a->softmax_bits, "Softmax output bits (4-16), comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--softmax-bc", a->corrections, "Corrections: none, tensor, head, length (comma-separated)")->delimiter(',')->capture_default_str();
  cmd->add_option("--softmax-bc-form", a->forms, "Correction forms: offset, scale (comma-separated)")->delimiter(',')->capture_default_str();
  cmd->add_option("--softmax-grid", a->grids, "Softmax grids: fixed, unit, calibrated (comma-separated)")->delimiter(',')->capture_default_str();
  cmd->add_option("--weight-bits", a->weight_bits, "Weight bits (2-8), comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--act-bits", a->act_bits, "Activation bits (8 or 16), comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--context", a->context, "Tokens per window (token data)")->default_val(512)->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  cmd->add_option("--calib-samples", a->calib_samples, "Calibrate on at most N samples/windows (0: all)")->default_val(0)->check(CLI::NonNegativeNumber);
  auto* mw = cmd->add_option("--max-windows", a->max_windows, "Evaluate at most K token windows (0: all)")->default_val(0)->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-samples", a->max_samples, "Evaluate at most K input samples (0: all)")->default_val(0)->check(CLI::NonNegativeNumber)->excludes(mw);
  cmd->add_option("--engine", a->engine, "Engine for the quantized models: sim (QDQ simulation)")->default_val("sim");
  cmd->add_option("--threads", a->threads, "Worker threads")->default_val(2)->check(CLI::Range(1, 256));
  cmd->callback([a] { sweep_command(*a); });
}

}  // namespace sq::cli
