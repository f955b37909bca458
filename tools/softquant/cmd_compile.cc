// `softquant compile`: lowers a QDQ ONNX model to the int8 engine's graph and writes it as a
// compiled .sqm (runtime/graph/sqm_format.h), which `run`, `bench` and the C API
// (runtime/capi/softquant.h) load without ONNX or protobuf.
#include <cstdio>

#include "quantizer/evaluate.h"
#include "runtime/engine/int8_engine.h"
#include "runtime/engine/int8_lowering.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/graph/sqm_format.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

struct CompileArgs {
  std::string model, output;
};

void compile_command(const CompileArgs& a) {
  Model qdq = load_onnx(a.model);
  SQ_CHECK(has_quantizers(qdq), a.model, ": has no QuantizeLinear or DequantizeLinear nodes; "
           "compile takes a quantized (QDQ) model: run `softquant quantize` first");
  Int8LoweringReport report;
  Model lowered = lower_to_int8(qdq, &report);
  // Prepare a copy as the device will (every op known, attributes valid, weights packable), so a
  // model the runtime cannot run is refused here rather than written and refused at load.
  make_int8_engine_from_lowered(std::make_shared<Model>(lowered));
  lowered.metadata["softquant.lowering"] = report.summary();
  lowered.metadata["softquant.source"] = a.model;
  const SqmWriteStats st = save_sqm(lowered, a.output);
  std::printf("%s\n", report.summary().c_str());
  std::printf("wrote %s: %zu bytes (.sqm version %u), %zu nodes, %zu tensors holding %zu bytes\n",
              a.output.c_str(), st.file_bytes, kSqmVersion, st.nodes, st.tensors,
              st.tensor_bytes);
}

}  // namespace

void add_compile_command(CLI::App& app) {
  auto a = std::make_shared<CompileArgs>();
  CLI::App* cmd = app.add_subcommand(
      "compile", "Lower a QDQ ONNX model to int8 kernels and write it as a compiled .sqm model");
  cmd->add_option("model", a->model, "Quantized (QDQ) ONNX model")->required();
  cmd->add_option("--output,-o", a->output, "The .sqm file to write")->required();
  cmd->callback([a] { compile_command(*a); });
}

}  // namespace sq::cli
