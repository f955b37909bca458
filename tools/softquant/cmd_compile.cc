// `softquant compile`: lowers a QDQ ONNX model to the int8 engine's graph, packs its GEMM weights
// for a target ISA (`--isa`, default the host's) and writes it as a compiled .sqm
// (runtime/graph/sqm_format.h), which `run`, `bench` and the C API (runtime/capi/softquant.h)
// load without ONNX or protobuf.
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
  std::string model, output, isa = "host";
};

void compile_command(const CompileArgs& a) {
  Model qdq = load_onnx(a.model);
  SQ_CHECK(has_quantizers(qdq), a.model, ": has no QuantizeLinear or DequantizeLinear nodes; "
           "compile takes a quantized (QDQ) model: run `softquant quantize` first");
  Int8LoweringReport report;
  Model lowered = lower_to_int8(qdq, &report);
  qdq = Model();  // the lowered graph shares the weights it needs
  // Prepare a copy as the device will (every op known, attributes valid, weights packable), so a
  // model the runtime cannot run is refused here rather than written and refused at load.
  make_int8_engine_from_lowered(std::make_shared<Model>(lowered));
  lowered.metadata["softquant.lowering"] = report.summary();
  lowered.metadata["softquant.source"] = a.model;
  std::string packing = "weights unpacked (packed at load)";
  if (a.isa != "none") {
    kernels::Isa isa = kernels::default_isa();
    if (a.isa != "host") kernels::isa_from_name(a.isa, &isa);  // CLI11 checked the name
    const PrepackStats ps = prepack_int8_weights(lowered, isa);
    packing = std::to_string(ps.matrices) + " weight(s) prepacked for " + kernels::isa_name(isa) +
              " (" + std::to_string(ps.packed_bytes) + " bytes)";
  }
  const SqmWriteStats st = save_sqm(lowered, a.output);
  std::printf("%s\n", report.summary().c_str());
  std::printf("%s\n", packing.c_str());
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
  cmd->add_option("--isa", a->isa,
                  "Target ISA of the prepacked GEMM weights: host (this machine's, default), "
                  "scalar, avx2, avx512vnni, neon, neondot, or none (store them unpacked, packed "
                  "at load). A model packed for another ISA still runs anywhere, repacked at load")
      ->check(CLI::IsMember({"host", "none", "scalar", "avx2", "avx512vnni", "neon", "neondot"}));
  cmd->callback([a] { compile_command(*a); });
}

}  // namespace sq::cli
