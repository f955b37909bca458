// Why this exists: `softquant sweep` measures accuracy over a grid of quantization settings
// (weight bits x activation bits x softmax bits x grid x bias correction x form). Everything but
// the command line lives here: the grid of points, calibrating once per (weight bits, activation
// bits) pair with the softmax statistics of every (bits, grid) variant from that one pass, the
// FP32 baseline computed once, the per-point evaluation (perplexity on token data, per-output
// SQNR against the FP32 model on tensor data), and results.json, which is rewritten after every
// point so that a re-run (or an interrupted run) evaluates only the points it does not hold.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "quantizer/config.h"
#include "runtime/core/json.h"
#include "runtime/graph/ir.h"

namespace sq {

// One point of a sweep: the settings that distinguish its quantized model. The form means
// nothing without a correction: points with bc none compare equal whatever their form, and
// results.json stores their form as null.
struct SweepPoint {
  int weight_bits = 8, act_bits = 8, softmax_bits = 8;
  SoftmaxGridKind grid = SoftmaxGridKind::kFixed;
  BcGranularity bc = BcGranularity::kNone;
  BcForm form = BcForm::kOffset;

  bool operator==(const SweepPoint& o) const;
  QuantConfig quant_config() const;  // defaults for everything else
  // {weight_bits, act_bits, softmax_bits, softmax_grid, softmax_bc, softmax_bc_form}
  Json to_json() const;
  // Throws sq::Error naming the missing or malformed field.
  static SweepPoint from_json(const Json& j);
  // "head/offset", "tensor/scale" or "none": the correction part of a label.
  std::string correction_label() const;
  // "W8A8, softmax 8-bit fixed, head/offset".
  std::string label() const;
};

struct SweepAxes {
  std::vector<int> weight_bits{8}, act_bits{8}, softmax_bits{8};
  std::vector<SoftmaxGridKind> grids{SoftmaxGridKind::kFixed};
  std::vector<BcGranularity> corrections{BcGranularity::kNone};
  std::vector<BcForm> forms{BcForm::kOffset};
};

// Every combination (repeated axis values count once), `none` once per (weight bits, activation
// bits, softmax bits, grid). Throws sq::Error for an empty axis or a value the quantizer rejects.
std::vector<SweepPoint> expand_sweep(const SweepAxes& axes);

struct SweepSettings {
  std::string model_path;     // recorded in results.json
  std::string calib;          // tokens:FILE.npy or inputs:DIR
  std::string eval;           // tokens:FILE.npy (perplexity) or inputs:DIR (SQNR vs FP32)
  int64_t context = 512;      // tokens per window (token data)
  int64_t calib_samples = 0;  // calibration samples/windows, 0: all
  int64_t max_eval = 0;       // evaluation windows/samples, 0: all
  int threads = 2;
  bool progress = true;       // progress bars on stderr
};

struct SweepSummary {
  size_t points = 0;        // requested
  size_t skipped = 0;       // already in results.json
  size_t evaluated = 0;     // evaluated by this run
  size_t calibrations = 0;  // calibration passes run (at most one per weight/act bits pair)
  bool baseline_evaluated = false, per_layer_evaluated = false;
};

// Called before a point is evaluated (with its index among the points to evaluate), and once the
// sweep knows how many it will skip. Both optional.
struct SweepHooks {
  std::function<void(const SweepSummary& plan)> on_start;
  std::function<void(const SweepPoint& point, const Json& entry)> on_point;
};

// Runs the sweep on `model` (already constant-folded) and keeps `results_path` up to date.
// An existing results.json is reused only if it was made from the same model (fingerprint) and
// the same data settings; otherwise sq::Error says so. Points it holds but that were not requested
// are kept.
SweepSummary run_sweep(std::shared_ptr<const Model> model, const std::vector<SweepPoint>& points,
                       const SweepSettings& settings, const std::string& results_path,
                       const SweepHooks& hooks = {});

// "perplexity" (lower is better) or "sqnr_db" (per output; the mean over outputs, higher is
// better); used to rank points. Returns false when the entry has no finite value.
bool sweep_point_score(const Json& entry, double* score, bool* lower_is_better);

// A 64-bit hex digest of the graph (ops, wiring) and every initializer's bytes.
std::string model_fingerprint(const Model& model);

}  // namespace sq
