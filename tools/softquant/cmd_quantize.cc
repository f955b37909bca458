// `softquant quantize`: calibrate, quantize with softmax bias correction, export QDQ ONNX and
// AIMET-style encodings, and print the per-Softmax row-sum deficit before and after correction.
#include <cstdio>
#include <iostream>

#include "quantizer/quantize.h"
#include "runtime/engine/constant_folding.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/atomic_file.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

struct QuantizeArgs {
  std::string model, output, calib, encodings;
  int64_t context = 512;
  int64_t calib_samples = 0;
  int weight_bits = 8, act_bits = 8, softmax_bits = 8;
  std::string softmax_grid = "fixed", softmax_bc = "none", softmax_bc_form = "offset";
  std::string observer = "minmax";
  bool weight_per_tensor = false;
  std::vector<std::string> float_ops, overrides;
  int threads = 2;
};

void print_softmax_table(const std::vector<SoftmaxReport>& rows) {
  if (rows.empty()) {
    std::cout << "no Softmax nodes quantized\n";
    return;
  }
  std::printf("%-44s %6s %10s %9s %11s %11s %s\n", "softmax node", "bits", "grid scale", "keys/row",
              "deficit", "corrected", "correction");
  for (const auto& r : rows) {
    std::string corr = bc_granularity_name(r.correction.granularity);
    if (r.correction.granularity != BcGranularity::kNone) {
      double lo = r.correction.values.front(), hi = lo;
      for (double v : r.correction.values) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      char buf[96];
      const char* what = r.correction.form == BcForm::kOffset ? "beta" : "factor";
      if (r.correction.values.size() == 1) std::snprintf(buf, sizeof buf, " %s %.4g", what, lo);
      else std::snprintf(buf, sizeof buf, " %s %.4g..%.4g (%zu values)", what, lo, hi, r.correction.values.size());
      corr += std::string("/") + bc_form_name(r.correction.form) + buf;
    }
    std::string name = r.node.size() > 44 ? "..." + r.node.substr(r.node.size() - 41) : r.node;
    std::printf("%-44s %6d %10.4g %9.1f %11.5f %11.5f %s\n", name.c_str(), r.grid.bits, r.grid.scale,
                r.mean_valid_keys, r.deficit_before, r.deficit_after, corr.c_str());
  }
  std::cout << "deficit = mean over calibration rows of 1 - sum_j q(y_j) (valid keys only); "
               "corrected = the same after bias correction\n";
}

void quantize_command(const QuantizeArgs& a) {
  Model loaded = load_onnx(a.model);
  int folded = fold_constants(loaded);
  if (folded > 0) std::cerr << "softquant: folded " << folded << " constant node(s) into initializers\n";
  auto model = std::make_shared<const Model>(std::move(loaded));
  QuantConfig config;
  config.weight_bits = a.weight_bits;
  config.act_bits = a.act_bits;
  config.softmax_bits = a.softmax_bits;
  config.softmax_grid = parse_softmax_grid(a.softmax_grid);
  config.softmax_bc = parse_bc_granularity(a.softmax_bc);
  config.softmax_bc_form = parse_bc_form(a.softmax_bc_form);
  config.act_observer = parse_observer_kind(a.observer);
  config.weight_per_channel = !a.weight_per_tensor;
  for (const auto& op : a.float_ops) config.float_ops.insert(op);
  for (const auto& o : a.overrides) apply_override_spec(config, model->graph, o);
  config.validate();
  // Check output paths before the long calibration run.
  { AtomicFile probe; probe.open(a.output); }
  if (!a.encodings.empty()) { AtomicFile probe; probe.open(a.encodings); }

  SampleSet data = SampleSet::load(parse_data_spec(a.calib), model->graph, a.context, a.calib_samples);
  std::cerr << "softquant: calibrating on " << data.size() << " sample(s); " << config.summary() << "\n";
  Calibration cal = calibrate_model(model, config, data, a.threads);
  QuantizeResult q = build_quantized_model(*model, config, cal);
  print_softmax_table(q.softmax);
  save_onnx(q.model, a.output);
  std::cout << "quantized " << q.quantized_nodes << " MatMul/Gemm/Conv nodes (" << q.weights << " weights, "
            << q.activations << " activations) and " << q.softmax.size() << " Softmax outputs -> " << a.output << "\n";
  if (!a.encodings.empty()) {
    write_file_atomic(a.encodings, q.encodings.dump(2) + "\n");
    std::cout << "encodings -> " << a.encodings << "\n";
  }
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Calibrate and quantize an ONNX model (W8A8 by default, 8-bit softmax), with optional softmax "
      "bias correction; writes a standard QDQ ONNX model and an AIMET-style encodings file");
  cmd->add_option("model", a->model, "FP32 ONNX model")->required();
  cmd->add_option("-o,--output", a->output, "Quantized QDQ ONNX model to write")->required();
  cmd->add_option("--calib", a->calib, "Calibration data: tokens:IDS.npy (1-D int64) or inputs:DIR (one subfolder of <input>.npy per sample)")->required();
  cmd->add_option("--context", a->context, "Tokens per calibration window (token data)")->default_val(512)->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--calib-samples", a->calib_samples, "Use at most N samples/windows (0: all)")->default_val(0);
  cmd->add_option("--weight-bits", a->weight_bits, "Weight bits, 2-8, symmetric")->default_val(8);
  cmd->add_option("--act-bits", a->act_bits, "Activation bits, 8 or 16, asymmetric")->default_val(8);
  cmd->add_option("--softmax-bits", a->softmax_bits, "Softmax output bits, 4-16, unsigned")->default_val(8);
  cmd->add_option("--softmax-grid", a->softmax_grid, "fixed (1/2^b), unit (1/(2^b-1)) or calibrated (observed max/(2^b-1))")->default_val("fixed");
  cmd->add_option("--softmax-bc", a->softmax_bc, "Softmax bias correction granularity: none, tensor, head or length")->default_val("none");
  cmd->add_option("--softmax-bc-form", a->softmax_bc_form, "offset (beta added on valid keys: a fractional zero point) or scale (factor folded into the scale)")->default_val("offset");
  cmd->add_option("--observer", a->observer, "Activation range observer: minmax, ema, percentile or mse")->default_val("minmax");
  cmd->add_flag("--weight-per-tensor", a->weight_per_tensor, "Per-tensor instead of per-channel weight scales");
  cmd->add_option("--float-ops", a->float_ops, "Op types to keep in float (e.g. Softmax,Gemm)")->delimiter(',');
  cmd->add_option("--override", a->overrides, "NAME:key=value[,key=value], NAME a node or op type; keys weight-bits, act-bits, softmax-bits, float");
  cmd->add_option("--encodings", a->encodings, "Write the encodings JSON here");
  cmd->add_option("--threads", a->threads, "Worker threads")->default_val(2)->check(CLI::Range(1, 256));
  cmd->callback([a] { quantize_command(*a); });
}

}  // namespace sq::cli
