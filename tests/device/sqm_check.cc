// sqm_check: runs a compiled model (.sqm) on .npy inputs with the int8 engine and either records
// what it computed or checks it against a recording made on another machine. It links only
// sq_runtime_core (no ONNX, no Protobuf), so it builds for a device; tools/arm/test_arm_qemu.sh
// records on the x86-64 host and checks under qemu-aarch64 with each kernel ISA.
//
//   sqm_check MODEL.sqm --input NAME=FILE.npy ... --record DIR
//   sqm_check MODEL.sqm --input NAME=FILE.npy ... --expect DIR [--capi-case FILE]
//
// What is recorded: every graph output, and every uint8/int8 tensor a node produces (the
// quantized activations, e.g. the inputs of the integer GEMMs and of the fused attention), as
// DIR/NNNN.npy listed in DIR/manifest.txt ("output|quantized NAME FILE" per line).
//
// The check (the pass criterion and why):
//  - quantized tensors: at least 99.9% of all their elements within 1 LSB of the recording (the
//    int8 engine's own agreement criterion against the simulation). The integer kernels are
//    exact on every ISA, but FP32 ops (LayerNorm, GELU, Softmax outside the fused attention,
//    residual adds) may be compiled with other fused multiply-adds and libm code on another CPU,
//    and a last-bit change can move a value across a rounding boundary of the next quantizer.
//  - float outputs: max |got - expected| <= 1e-3 * max |expected| per output. The float outputs
//    are dequantized integer results plus FP32 ops; one 1-LSB step in an intermediate moves them
//    by far less than this, a wrong kernel by far more.
// It prints the bit-identical and within-1-LSB counts either way. With --capi-case it also
// writes the inputs and this machine's outputs as raw files and a case file for
// tests/capi/capi_smoke.c (which then must reproduce them bit for bit through the C API), plus a
// bit-flipped copy of the model that the C API must refuse. Exit code 0 when the check passes.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/engine/binding.h"
#include "runtime/engine/int8_engine.h"
#include "runtime/graph/sqm_format.h"
#include "runtime/io/npy.h"
#include "runtime/io/read_file.h"
#include "runtime/kernels/isa.h"

namespace sq {
namespace {

constexpr double kMinWithin1Lsb = 0.999;
constexpr double kMaxFloatRelErr = 1e-3;

struct Args {
  std::string model, record_dir, expect_dir, capi_case;
  std::vector<std::pair<std::string, std::string>> inputs;  // name, .npy path
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw make_error(s, " needs a value");
      return argv[++i];
    };
    if (s == "--input") {
      const std::string v = value();
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) throw make_error("--input expects NAME=FILE.npy, got '", v, "'");
      a.inputs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (s == "--record") {
      a.record_dir = value();
    } else if (s == "--expect") {
      a.expect_dir = value();
    } else if (s == "--capi-case") {
      a.capi_case = value();
    } else if (!s.empty() && s[0] != '-' && a.model.empty()) {
      a.model = s;
    } else {
      throw make_error("unknown argument '", s, "'");
    }
  }
  if (a.model.empty() || a.record_dir.empty() == a.expect_dir.empty()) {
    throw Error("usage: sqm_check MODEL.sqm --input NAME=FILE.npy ... (--record DIR | --expect DIR) [--capi-case FILE]");
  }
  return a;
}

bool is_quantized(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// What one run computed: name -> (kind, tensor), in the order produced.
struct Recording {
  std::vector<std::string> names;
  std::map<std::string, std::pair<std::string, Tensor>> values;
  void add(const std::string& kind, const std::string& name, const Tensor& t) {
    if (values.count(name)) return;
    names.push_back(name);
    values.emplace(name, std::make_pair(kind, t.clone()));
  }
};

Recording run_model(const ReferenceEngine& engine, const TensorMap& feeds) {
  Recording rec;
  // Node outputs arrive in execution order on the calling thread.
  const ReferenceEngine::Observer observer = [&](const Node& node, size_t o_index,
                                                 const Tensor& value) {
    if (is_quantized(value.dtype())) rec.add("quantized", node.outputs[o_index], value);
  };
  ThreadPool pool(2);
  const TensorMap outs = engine.run(feeds, pool, &observer);
  for (const auto& vi : engine.model().graph.outputs) {
    if (rec.values.count(vi.name)) {
      rec.values.at(vi.name) = {"output", outs.at(vi.name)};  // a quantized graph output
    } else {
      rec.add("output", vi.name, outs.at(vi.name));
    }
  }
  return rec;
}

void record(const Recording& rec, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw make_error(dir, ": cannot create folder (", ec.message(), ")");
  std::ostringstream manifest;
  int n = 0;
  for (const std::string& name : rec.names) {
    const auto& [kind, t] = rec.values.at(name);
    char file[32];
    std::snprintf(file, sizeof(file), "%04d.npy", n++);
    write_npy(dir + "/" + file, t);
    manifest << kind << ' ' << name << ' ' << file << '\n';
  }
  std::ofstream f(dir + "/manifest.txt");
  f << manifest.str();
  if (!f.flush()) throw make_error(dir, "/manifest.txt: cannot write");
  std::printf("sqm_check: recorded %d tensors in %s\n", n, dir.c_str());
}

int64_t as_int(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kUInt8 ? t.data<uint8_t>()[i] : t.data<int8_t>()[i];
}

// Compares with the recording in dir; prints the counts; returns whether the criterion holds.
bool check(const Recording& rec, const std::string& dir) {
  std::ifstream f(dir + "/manifest.txt");
  if (!f) throw make_error(dir, "/manifest.txt: cannot open");
  int64_t q_total = 0, q_same = 0, q_1lsb = 0, q_max_diff = 0, q_tensors = 0, q_tensors_same = 0;
  bool ok = true;
  std::string kind, name, file;
  int outputs = 0;
  while (f >> kind >> name >> file) {
    auto it = rec.values.find(name);
    if (it == rec.values.end()) {
      std::printf("sqm_check: FAIL %s %s was recorded but not produced here\n", kind.c_str(), name.c_str());
      ok = false;
      continue;
    }
    const Tensor expected = read_npy(dir + "/" + file);
    const Tensor& got = it->second.second;
    if (got.dtype() != expected.dtype() || got.shape() != expected.shape()) {
      std::printf("sqm_check: FAIL %s: %s %s here, %s %s recorded\n", name.c_str(), dtype_name(got.dtype()),
                  shape_str(got.shape()).c_str(), dtype_name(expected.dtype()), shape_str(expected.shape()).c_str());
      ok = false;
      continue;
    }
    if (kind == "quantized") {
      int64_t same = 0;
      for (int64_t i = 0; i < got.numel(); ++i) {
        const int64_t d = std::llabs(as_int(got, i) - as_int(expected, i));
        same += d == 0;
        q_1lsb += d <= 1;
        q_max_diff = std::max(q_max_diff, d);
      }
      q_total += got.numel();
      q_same += same;
      ++q_tensors;
      q_tensors_same += same == got.numel();
    } else if (got.dtype() == DType::kFloat32) {
      const float* g = got.data<float>();
      const float* e = expected.data<float>();
      double max_err = 0, max_ref = 0;
      int64_t same = 0;
      for (int64_t i = 0; i < got.numel(); ++i) {
        max_err = std::max(max_err, std::fabs(static_cast<double>(g[i]) - e[i]));
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(e[i])));
        same += std::memcmp(g + i, e + i, sizeof(float)) == 0;
      }
      const double rel = max_ref > 0 ? max_err / max_ref : max_err;
      const bool pass = rel <= kMaxFloatRelErr;
      std::printf("sqm_check: output %s %s: %lld/%lld bit-identical, max |err| %.3g = %.3g of max |value| (limit %.0e) %s\n",
                  name.c_str(), shape_str(got.shape()).c_str(), static_cast<long long>(same),
                  static_cast<long long>(got.numel()), max_err, rel, kMaxFloatRelErr, pass ? "ok" : "FAIL");
      ok = ok && pass;
      ++outputs;
    } else {
      const bool same = std::memcmp(got.raw(), expected.raw(), got.nbytes()) == 0;
      std::printf("sqm_check: output %s: %s\n", name.c_str(), same ? "bit-identical" : "differs FAIL");
      ok = ok && same;
      ++outputs;
    }
  }
  const double within = q_total ? static_cast<double>(q_1lsb) / q_total : 1.0;
  const bool q_pass = within >= kMinWithin1Lsb;
  std::printf("sqm_check: quantized tensors: %lld (%lld bit-identical); elements: %lld, %lld bit-identical, "
              "%lld within 1 LSB (%.4f%%, limit %.1f%%), max diff %lld %s\n",
              static_cast<long long>(q_tensors), static_cast<long long>(q_tensors_same),
              static_cast<long long>(q_total), static_cast<long long>(q_same), static_cast<long long>(q_1lsb),
              100.0 * within, 100.0 * kMinWithin1Lsb, static_cast<long long>(q_max_diff), q_pass ? "ok" : "FAIL");
  if (outputs == 0 || q_tensors == 0) {
    std::printf("sqm_check: FAIL the recording holds %d outputs and %lld quantized tensors\n", outputs,
                static_cast<long long>(q_tensors));
    ok = false;
  }
  return ok && q_pass;
}

int sq_dtype_code(DType t) {  // runtime/capi/softquant.h numbering (ONNX's)
  switch (t) {
    case DType::kFloat32: return 1;
    case DType::kUInt8: return 2;
    case DType::kInt8: return 3;
    case DType::kInt32: return 6;
    case DType::kInt64: return 7;
    case DType::kBool: return 9;
    case DType::kFloat16: return 10;
    case DType::kFloat64: return 11;
  }
  return 0;
}

void write_raw(const std::string& path, const Tensor& t) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
  if (!f.flush()) throw make_error(path, ": cannot write");
}

// A case file for tests/capi/capi_smoke.c: this machine's outputs are the expected values.
void write_capi_case(const std::string& path, const std::string& model, const TensorMap& feeds,
                     const Recording& rec, const std::vector<ValueInfo>& outputs) {
  std::ostringstream c;
  std::string bytes = read_file_bytes(model, "model");
  bytes[bytes.size() / 2] ^= 0x10;
  const std::string corrupt = path + ".corrupt.sqm";
  {
    std::ofstream f(corrupt, std::ios::binary);
    f << bytes;
    if (!f.flush()) throw make_error(corrupt, ": cannot write");
  }
  c << "model " << model << "\ncorrupt " << corrupt << '\n';
  int n = 0;
  auto line = [&](const char* kind, const std::string& name, const Tensor& t) {
    const std::string raw = path + "." + std::to_string(n++) + ".raw";
    write_raw(raw, t);
    c << kind << ' ' << name << ' ' << sq_dtype_code(t.dtype()) << ' ' << t.shape().size();
    for (int64_t d : t.shape()) c << ' ' << d;
    c << ' ' << raw << '\n';
  };
  for (const auto& [name, t] : feeds) line("input", name, t);
  for (const auto& vi : outputs) line("output", vi.name, rec.values.at(vi.name).second);
  std::ofstream f(path);
  f << c.str();
  if (!f.flush()) throw make_error(path, ": cannot write");
}

int main_impl(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  auto engine = make_int8_engine_from_lowered(std::make_shared<Model>(load_sqm(a.model)));
  TensorMap feeds;
  for (const auto& [name, path] : a.inputs) feeds[name] = read_npy(path);
  std::printf("sqm_check: %s, kernels: %s\n", a.model.c_str(), kernels::isa_name(kernels::default_isa()));
  const Recording rec = run_model(*engine, feeds);
  if (!a.record_dir.empty()) {
    record(rec, a.record_dir);
    return 0;
  }
  const bool ok = check(rec, a.expect_dir);
  if (!a.capi_case.empty()) write_capi_case(a.capi_case, a.model, feeds, rec, engine->model().graph.outputs);
  std::printf("sqm_check: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace sq

int main(int argc, char** argv) {
  try {
    return sq::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sqm_check: %s\n", e.what());
    return 1;
  }
}
