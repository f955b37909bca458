// Compiled models (.sqm, runtime/graph/sqm_format.h) and the C API (runtime/capi/softquant.h):
// the bundled OPT and a torch-exported SD block, quantized and compiled, give bit-identical
// outputs from the .sqm and from the QDQ ONNX on the int8 engine; truncated, bit-flipped and
// forged files are refused with one clear line, never a crash; `softquant compile/run/bench`
// accept .sqm; a plain C program linking only libsoftquant_rt reproduces the C++ outputs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include "calib/dataset.h"
#include "quantizer/quantize.h"
#include "runtime/engine/constant_folding.h"
#include "runtime/engine/int8_engine.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/graph/sqm_format.h"
#include "runtime/io/mapped_file.h"
#include "runtime/io/npy.h"
#include "runtime/ops/int8_packed_weight.h"
#include "runtime/planner/execution_arena.h"
#include "tests/test_util.h"

namespace sq {
namespace {

using test::expect_bit_identical;

struct Case {
  std::shared_ptr<const Model> qdq;
  TensorMap feeds;
};

Case quantized_case(const std::string& which) {
  Case c;
  std::shared_ptr<Model> m;
  SampleSet data;
  QuantConfig config;
  if (which == "opt") {
    const std::string dir = std::string(SQ_SOURCE_DIR) + "/models/assets/opt-bytes";
    m = std::make_shared<Model>(load_onnx(dir + "/model.onnx"));
    fold_constants(*m);
    data = SampleSet::load(parse_data_spec("tokens:" + dir + "/calib_tokens.npy"), m->graph, 128, 2);
    config.softmax_bc = BcGranularity::kLength;
    SampleSet eval =
        SampleSet::load(parse_data_spec("tokens:" + dir + "/eval_tokens.npy"), m->graph, 128, 1);
    c.feeds = eval.feeds(0);
  } else {
    const std::string dir = test::data_dir() + "/torch/sd_block_c64_s8_opset14";
    m = std::make_shared<Model>(load_onnx(dir + "/model.onnx"));
    fold_constants(*m);
    data = SampleSet::load(parse_data_spec("inputs:" + dir + "/inputs"), m->graph, 0, 0);
    c.feeds = data.feeds(0);
  }
  Calibration cal = calibrate_model(m, config, data, 2);
  c.qdq = std::make_shared<const Model>(build_quantized_model(*m, config, cal).model);
  return c;
}

// Quantizing takes a while: once per model per test binary.
const Case& get_case(const std::string& which) {
  static std::map<std::string, Case> cases;
  auto it = cases.find(which);
  if (it == cases.end()) it = cases.emplace(which, quantized_case(which)).first;
  return it->second;
}

// What `softquant compile` writes: weights prepacked for `isa` (default: the running one), or
// left unpacked (nullopt).
std::string compile_to(const Model& qdq, const std::string& name,
                       std::optional<kernels::Isa> isa = kernels::default_isa()) {
  const std::string path = test::temp_dir() + "/" + name;
  Model lowered = lower_to_int8(qdq);
  if (isa) prepack_int8_weights(lowered, *isa);
  save_sqm(lowered, path);
  return path;
}

int count_gemms(const Model& m) {
  int n = 0;
  for (const Node& node : m.graph.nodes) n += node.op_type == "MatMulU8S8ToFloat";
  return n;
}

// Re-checksums an edited image, so only the parser's own checks can refuse it.
void reseal(std::string& b) {
  const uint64_t h = sqm_checksum(reinterpret_cast<const uint8_t*>(b.data()), b.size());
  std::memcpy(b.data() + 24, &h, 8);
}

void check_sqm_matches_onnx(const std::string& which) {
  const Case& c = get_case(which);
  const std::string path = compile_to(*c.qdq, which + ".sqm");
  EXPECT_TRUE(is_sqm_file(path));
  const int64_t packs_before = weights_packed_at_prepare();
  auto from_onnx = make_int8_engine(*c.qdq);
  auto lowered = std::make_shared<Model>(load_sqm(path));
  const int gemms = count_gemms(*lowered);
  EXPECT_GT(gemms, 0);
  auto from_sqm = make_int8_engine_from_lowered(lowered);
  EXPECT_EQ(weights_packed_at_prepare(), packs_before)
      << "weights prepacked for the running ISA are used as stored, not packed again";
  ThreadPool pool(2);
  TensorMap a = from_onnx->run(c.feeds, pool), b = from_sqm->run(c.feeds, pool);
  expect_bit_identical(a, b);
  // One engine, three threads with a pool each, at once: the same bits again.
  std::vector<TensorMap> outs(3);
  std::vector<std::thread> threads;
  for (auto& o : outs) {
    threads.emplace_back([&] {
      ThreadPool p(1);
      o = from_sqm->run(c.feeds, p);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& o : outs) expect_bit_identical(a, o);
}

TEST(Sqm, TrainedOptFromSqmIsBitIdenticalToQdqOnnx) { check_sqm_matches_onnx("opt"); }
TEST(Sqm, TorchSdBlockFromSqmIsBitIdenticalToQdqOnnx) { check_sqm_matches_onnx("sd"); }

// Prepacked for the running ISA: every GEMM's packed weight is used from the mapped file itself.
TEST(Sqm, PrepackedWeightsAreUsedInPlaceFromTheMapping) {
  const std::string path = compile_to(*get_case("sd").qdq, "inplace.sqm");
  const size_t file_size = std::filesystem::file_size(path);
  Model m = load_sqm(path);
  int packed = 0;
  for (const Node& n : m.graph.nodes) {
    if (n.op_type != "MatMulU8S8ToFloat") continue;
    ASSERT_TRUE(n.has_attr("packed_weight")) << n.describe();
    EXPECT_FALSE(n.has_attr("weight")) << n.describe();
    EXPECT_EQ(n.attr_string("packed_isa", ""), kernels::isa_name(kernels::default_isa()));
    const Tensor& w = n.attr_tensor("packed_weight");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w.raw()) % 64, 0u);
    const kernels::PackedMatrixS8 p = packed_weight_of(n);
    EXPECT_EQ(static_cast<const void*>(p.data.get()), w.raw()) << n.describe() << ": copied";
    EXPECT_EQ(static_cast<const void*>(p.col_sums.data()),
              n.attr_tensor("packed_col_sums").raw());
    EXPECT_EQ(p.data_bytes, w.numel());
    ++packed;
  }
  EXPECT_EQ(packed, count_gemms(m));
  EXPECT_GT(packed, 0);
  EXPECT_GT(file_size, 0u);
}

// Packed for another ISA (every one, compiled into this binary or not, e.g. neondot for a board):
// each weight is repacked from the stored layout at load, with bit-identical outputs.
TEST(Sqm, PackedForAnotherIsaIsRepackedAtLoadWithIdenticalOutputs) {
  const Case& c = get_case("opt");
  ThreadPool pool(2);
  const TensorMap want = make_int8_engine(*c.qdq)->run(c.feeds, pool);
  for (kernels::Isa isa : {kernels::Isa::kScalar, kernels::Isa::kAvx2,
                           kernels::Isa::kAvx512Vnni, kernels::Isa::kNeon,
                           kernels::Isa::kNeonDot}) {
    if (isa == kernels::default_isa()) continue;
    SCOPED_TRACE(std::string("packed for ") + kernels::isa_name(isa));
    const std::string path = compile_to(*c.qdq, "cross.sqm", isa);
    auto lowered = std::make_shared<Model>(load_sqm(path));
    const int gemms = count_gemms(*lowered);
    const int64_t before = weights_packed_at_prepare();
    auto engine = make_int8_engine_from_lowered(lowered);
    EXPECT_EQ(weights_packed_at_prepare() - before, gemms) << "each weight repacked once";
    expect_bit_identical(want, engine->run(c.feeds, pool));
  }
}

// release_mapped_pages drops resident pages only inside live map_file mappings: the data reads
// back the same (from the file), resident memory falls, and other memory is never touched.
// Weights packed from an ONNX model share one slab (huge-page friendly): its views are 64-byte
// aligned, disjoint, consecutive, keep the slab alive, and it refuses to hand out more than it has.
TEST(PackedWeightSlab, HandsOutAlignedDisjointViewsAndRefusesOverflow) {
  Tensor a, b;
  {
    PackedWeightSlab slab(3 << 20);  // rounded up to whole 2 MiB pages: 4 MiB
    a = slab.take(64 * 3);
    b = slab.take(1 << 20);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.raw()) % (2 << 20), 0u);
    EXPECT_EQ(static_cast<const char*>(b.raw()), static_cast<const char*>(a.raw()) + 64 * 3);
    EXPECT_EQ(b.nbytes(), size_t{1} << 20);
    EXPECT_THROW(slab.take(4 << 20), Error);
    EXPECT_THROW(slab.take(65), Error);
  }
  std::memset(b.raw(), 7, b.nbytes());  // the views outlive the slab object
  EXPECT_EQ(static_cast<const int8_t*>(b.raw())[(1 << 20) - 1], 7);
}

TEST(Sqm, MappedPagesAreReleasedOnlyInsideMappings) {
  const std::string path = test::temp_dir() + "/pages.bin";
  std::string bytes(16 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 % 251);
  test::write_bytes(path, bytes);
  auto resident_mb = [] {
    long pages = 0, res = 0;
    std::ifstream("/proc/self/statm") >> pages >> res;
    return static_cast<double>(res) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
  };
  uintptr_t stale = 0;
  {
    MappedFile f = map_file(path);
    uint64_t sum = 0;
    for (size_t i = 0; i < f.size; i += 512) sum += f.data[i];
    const double before = resident_mb();
    const size_t released = release_mapped_pages(f.data + 100, f.size - 200);
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    EXPECT_EQ(released, f.size - 2 * page) << "every whole page inside the range";
    EXPECT_LT(resident_mb(), before - 8) << "sum " << sum;
    EXPECT_EQ(std::memcmp(f.data, bytes.data(), bytes.size()), 0) << "reads back from the file";
    EXPECT_EQ(release_mapped_pages(f.data + f.size - 10, 20), 0u) << "runs past the mapping";
    stale = reinterpret_cast<uintptr_t>(f.data);
  }
  EXPECT_EQ(release_mapped_pages(reinterpret_cast<const void*>(stale), 1 << 20), 0u)
      << "no longer mapped";
  std::vector<char> anon(bytes.begin(), bytes.end());
  EXPECT_EQ(release_mapped_pages(anon.data(), anon.size()), 0u);
  EXPECT_EQ(std::memcmp(anon.data(), bytes.data(), bytes.size()), 0);
}

// Version-1 files (weights stored unpacked, as written before prepacking existed; the layout of
// version 2) still load and give the same bits; their weights are packed at load.
TEST(Sqm, Version1FilesWithUnpackedWeightsStillLoad) {
  const Case& c = get_case("sd");
  const std::string path = test::temp_dir() + "/v1.sqm";
  save_sqm(lower_to_int8(*c.qdq), path, SqmWriteOptions{2});
  std::string b = test::read_bytes(path);
  ASSERT_EQ(b[8], 2);
  b[8] = 1;
  reseal(b);
  auto mem = std::make_shared<std::string>(b);
  Model m = load_sqm_from_memory(mem, reinterpret_cast<const uint8_t*>(mem->data()), mem->size(),
                                 "v1.sqm");
  auto lowered = std::make_shared<Model>(std::move(m));
  const int gemms = count_gemms(*lowered);
  const int64_t before = weights_packed_at_prepare();
  auto engine = make_int8_engine_from_lowered(lowered);
  EXPECT_EQ(weights_packed_at_prepare() - before, gemms);
  ThreadPool pool(2);
  expect_bit_identical(make_int8_engine(*c.qdq)->run(c.feeds, pool), engine->run(c.feeds, pool));
}

// Packed-weight attributes that contradict each other (checksum forged to match) are refused by
// the engine with one line naming the node, never used.
TEST(Sqm, InconsistentPackedWeightsAreRefused) {
  const Case& c = get_case("sd");
  Model lowered = lower_to_int8(*c.qdq);
  prepack_int8_weights(lowered, kernels::default_isa());
  Node* mm = nullptr;
  for (Node& n : lowered.graph.nodes) {
    if (n.op_type == "MatMulU8S8ToFloat") mm = &n;
  }
  ASSERT_NE(mm, nullptr);
  auto refused = [&](const std::function<void(Node&)>& spoil, const std::string& needle) {
    auto m = std::make_shared<Model>(lowered);
    for (Node& n : m->graph.nodes) {
      if (n.name == mm->name) spoil(n);
    }
    try {
      make_int8_engine_from_lowered(m);
      ADD_FAILURE() << needle << ": accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      EXPECT_NE(msg.find(mm->name), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  };
  refused([](Node& n) { n.attrs["packed_isa"] = Attribute::of_string("mmx"); }, "unknown packed_isa");
  refused([](Node& n) { n.attrs["packed_n"] = Attribute::of_int(n.attr_int("packed_n") + 1); },
          "packed_weight must be int8");
  refused([](Node& n) { n.attrs["packed_k"] = Attribute::of_int(-3); }, "packed_k");
  refused([](Node& n) { n.attrs["packed_col_sums"] = Attribute::of_tensor(Tensor::zeros(DType::kInt32, {1})); },
          "packed_col_sums");
  refused([](Node& n) { n.attrs.erase("packed_weight"); }, "packed_weight");
}

TEST(Sqm, RoundTripKeepsTheGraph) {
  const Case& c = get_case("sd");
  Model lowered = lower_to_int8(*c.qdq);
  const std::string path = test::temp_dir() + "/rt.sqm";
  SqmWriteStats st = save_sqm(lowered, path);
  EXPECT_EQ(st.file_bytes, std::filesystem::file_size(path));
  Model back = load_sqm(path);
  ASSERT_EQ(back.graph.nodes.size(), lowered.graph.nodes.size());
  for (size_t i = 0; i < back.graph.nodes.size(); ++i) {
    const Node &x = lowered.graph.nodes[i], &y = back.graph.nodes[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.op_type, y.op_type);
    EXPECT_EQ(x.domain, y.domain);
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.outputs, y.outputs);
    ASSERT_EQ(x.attrs.size(), y.attrs.size()) << x.describe();
    for (const auto& [k, a] : x.attrs) {
      const Attribute& b = y.attrs.at(k);
      EXPECT_EQ(a.kind, b.kind);
      if (a.kind == Attribute::Kind::kTensor) {
        EXPECT_EQ(a.t.shape(), b.t.shape());
        EXPECT_EQ(std::memcmp(a.t.raw(), b.t.raw(), a.t.nbytes()), 0);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(b.t.raw()) % 64, 0u);
      }
    }
  }
  ASSERT_EQ(back.graph.inputs.size(), lowered.graph.inputs.size());
  for (size_t i = 0; i < back.graph.inputs.size(); ++i) {
    EXPECT_EQ(back.graph.inputs[i].name, lowered.graph.inputs[i].name);
    EXPECT_EQ(back.graph.inputs[i].dtype, lowered.graph.inputs[i].dtype);
    ASSERT_EQ(back.graph.inputs[i].dims.size(), lowered.graph.inputs[i].dims.size());
    for (size_t d = 0; d < back.graph.inputs[i].dims.size(); ++d) {
      EXPECT_EQ(back.graph.inputs[i].dims[d].value, lowered.graph.inputs[i].dims[d].value);
      EXPECT_EQ(back.graph.inputs[i].dims[d].param, lowered.graph.inputs[i].dims[d].param);
    }
  }
  EXPECT_EQ(back.graph.initializers.size(), lowered.graph.initializers.size());
  EXPECT_EQ(back.opset_imports, lowered.opset_imports);
}

// Expects load to throw sq::Error with a one-line message containing `needle`.
void expect_refused(const std::string& bytes, const std::string& needle, const std::string& what) {
  try {
    load_sqm_from_memory(nullptr, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "m.sqm");
    ADD_FAILURE() << what << ": accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << what << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
}

TEST(Sqm, RefusesEveryTruncation) {
  const std::string good = test::read_bytes(compile_to(*get_case("sd").qdq, "t.sqm"));
  for (size_t len = 0; len < good.size(); ++len) {
    try {
      load_sqm_from_memory(nullptr, reinterpret_cast<const uint8_t*>(good.data()), len, "m.sqm");
      ADD_FAILURE() << "prefix of " << len << " bytes accepted";
      break;
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (len >= 64) {
        ASSERT_NE(msg.find("truncated"), std::string::npos) << len << ": " << msg;
      }
    }
  }
  std::printf("every one of %zu prefixes refused\n", good.size());
}

TEST(Sqm, RefusesBitFlipsAnywhere) {
  const std::string good = test::read_bytes(compile_to(*get_case("sd").qdq, "f.sqm"));
  int tried = 0;
  for (size_t off = 0; off < good.size(); off += off < 4096 ? 1 : 61) {
    std::string b = good;
    b[off] ^= static_cast<char>(1 << (off % 8));
    try {
      load_sqm_from_memory(nullptr, reinterpret_cast<const uint8_t*>(b.data()), b.size(), "m.sqm");
      ADD_FAILURE() << "flip at byte " << off << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("m.sqm: ", 0), 0u) << e.what();
    }
    ++tried;
  }
  std::printf("%d single-bit flips refused (file of %zu bytes)\n", tried, good.size());
}

TEST(Sqm, RefusesBadMagicVersionFlagsAndNonSqm) {
  const std::string good = test::read_bytes(compile_to(*get_case("sd").qdq, "h.sqm"));
  std::string b = good;
  b[0] = 'X';
  expect_refused(b, "bad magic", "magic");
  b = good;
  b[8] = 4;
  reseal(b);
  expect_refused(b, "version 4 is not supported", "version");
  expect_refused(b, "recompile", "version");
  b = good;
  b[8] = 0;
  reseal(b);
  expect_refused(b, "version 0 is not supported", "version");
  b = good;
  b[12] = 1;
  reseal(b);
  expect_refused(b, "flags", "flags");
  b = good + "x";
  expect_refused(b, "the header says", "longer");
  b = good;
  b[40] = 65;  // section table offset
  reseal(b);
  expect_refused(b, "header", "table offset");
  expect_refused(test::read_bytes(test::data_dir() + "/torch/sd_block_c64_s8_opset14/model.onnx"),
                 "bad magic", "an ONNX file");
  EXPECT_THROW(load_sqm(test::temp_dir() + "/missing.sqm"), Error);
}

// Flips with the checksum forged to match, so the parser's own checks are what stands between
// the bytes and the engine: every META byte, and the section table. Each is refused with a one-line
// error or loads into a model that the engine prepares or refuses; nothing crashes.
TEST(Sqm, ForgedChecksumsStillNeverCrash) {
  const std::string good = test::read_bytes(compile_to(*get_case("sd").qdq, "g.sqm"));
  uint64_t meta_off = 0, meta_size = 0;
  std::memcpy(&meta_off, good.data() + 64 + 8, 8);
  std::memcpy(&meta_size, good.data() + 64 + 16, 8);
  ASSERT_EQ(meta_off, 64u + 3 * 24);
  int refused = 0, loaded = 0, prepared = 0, tried = 0;
  // Every byte of the header and table, then every 23rd byte of META (each try re-checksums and
  // may prepare an engine: all of them take minutes).
  for (size_t off = 64; off < meta_off + meta_size; off += off < meta_off + 256 ? 1 : 23) {
    ++tried;
    std::string b = good;
    b[off] ^= static_cast<char>(1 << (off % 8));
    reseal(b);
    bool was_loaded = false;
    try {
      Model m = load_sqm_from_memory(nullptr, reinterpret_cast<const uint8_t*>(b.data()), b.size(),
                                     "m.sqm");
      ++loaded;
      was_loaded = true;
      make_int8_engine_from_lowered(std::make_shared<Model>(std::move(m)));
      ++prepared;
    } catch (const Error& e) {
      refused += !was_loaded;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
  std::printf("%d forged flips in the table and %llu META bytes: %d refused by the loader, %d "
              "loaded (%d of them prepared, the rest refused by the engine)\n",
              tried, static_cast<unsigned long long>(meta_size), refused, loaded, prepared);
  EXPECT_GT(refused, 0);
}

TEST(Sqm, OptTruncationsAndFlipsRefused) {
  const std::string good = test::read_bytes(compile_to(*get_case("opt").qdq, "o.sqm"));
  for (size_t i = 0; i < 300; ++i) {
    const size_t len = 64 + (good.size() - 64) * i / 300 + i % 7;
    expect_refused(good.substr(0, std::min(len, good.size() - 1)), "truncated", "prefix");
  }
  for (size_t i = 0; i < 64; ++i) {
    std::string b = good;
    const size_t off = 64 + (good.size() - 64) * i / 64;
    b[off] ^= 0x10;
    expect_refused(b, "checksum mismatch", "flip");
  }
}

// `softquant compile`, then `run` on the .sqm (default engine) and on the QDQ ONNX with --engine
// int8: identical .npy files; `--engine sim` on a .sqm is refused; `bench` accepts the .sqm.
TEST(Sqm, CliCompileRunBench) {
  const Case& c = get_case("sd");
  const std::string dir = test::temp_dir();
  save_onnx(*c.qdq, dir + "/q.onnx");
  test::CliResult r = test::run_cli("compile " + dir + "/q.onnx -o " + dir + "/q.bin");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + dir + "/q.bin"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nodes"), std::string::npos) << r.out;
  const std::string in = test::data_dir() + "/torch/sd_block_c64_s8_opset14/inputs";
  const std::string inputs = " -i hidden_states=" + in + "/hidden_states.npy" +
                             " -i encoder_hidden_states=" + in + "/encoder_hidden_states.npy";
  r = test::run_cli("run " + dir + "/q.bin" + inputs + " -o " + dir + "/a");  // by magic
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_cli("run " + dir + "/q.onnx --engine int8" + inputs + " -o " + dir + "/b");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/a")) {
    EXPECT_EQ(test::read_bytes(e.path().string()),
              test::read_bytes(dir + "/b/" + e.path().filename().string()));
    ++files;
  }
  EXPECT_GT(files, 0);
  // Packed for another ISA (`--isa`), and the host-packed file run with SOFTQUANT_ISA forcing the
  // scalar kernels: both repacked at load, both give the same files.
  const std::string other = kernels::default_isa() == kernels::Isa::kScalar ? "neondot" : "scalar";
  r = test::run_cli("compile " + dir + "/q.onnx --isa " + other + " -o " + dir + "/x.sqm");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("prepacked for " + other), std::string::npos) << r.out;
  r = test::run_cli("run " + dir + "/x.sqm" + inputs + " -o " + dir + "/x");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ::setenv("SOFTQUANT_ISA", "scalar", 1);
  r = test::run_cli("run " + dir + "/q.bin" + inputs + " -o " + dir + "/s");
  ::unsetenv("SOFTQUANT_ISA");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* sub : {"/x/", "/s/"}) {
    for (const auto& e : std::filesystem::directory_iterator(dir + "/a")) {
      EXPECT_EQ(test::read_bytes(e.path().string()),
                test::read_bytes(dir + sub + e.path().filename().string()))
          << sub << e.path().filename();
    }
  }
  r = test::run_cli("compile " + dir + "/q.onnx --isa mmx -o " + dir + "/y.sqm");
  EXPECT_EQ(r.exit_code, 2) << "a usage error";
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/y.sqm"));
  r = test::run_cli("run " + dir + "/q.bin --engine sim" + inputs + " -o " + dir + "/c");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("int8 engine only"), std::string::npos) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1);
  r = test::run_cli("bench " + dir + "/q.bin --inputs " + in + " --repeat 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"engine\": \"int8\""), std::string::npos) << r.out;
  test::write_bytes(dir + "/bad.sqm", test::read_bytes(dir + "/q.bin").substr(0, 1000));
  r = test::run_cli("run " + dir + "/bad.sqm" + inputs + " -o " + dir + "/d");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  r = test::run_cli("compile " + test::data_dir() + "/torch/sd_block_c64_s8_opset14/model.onnx -o " +
                    dir + "/f.sqm");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(dir + "/f.sqm"));
}

// Writes inputs and the C++ engine's outputs (from the same .sqm) as raw files plus a case file,
// and runs the C program on it.
void check_c_api(const std::string& which) {
  const Case& c = get_case(which);
  const std::string dir = test::temp_dir();
  // The file holds a memory plan for the case's input shapes, so the C session's first run
  // replays it (planner/memory_plan.h): the outputs must still be the C++ engine's bits.
  const std::string path = dir + "/" + which + ".sqm";
  Model lowered = lower_to_int8(*c.qdq);
  prepack_int8_weights(lowered, kernels::default_isa());
  {
    ExecutionArena arena;
    ReferenceEngine::RunOptions options;
    options.arena = &arena;
    ThreadPool pool(1);
    make_int8_engine_from_lowered(std::make_shared<Model>(lowered))->run(c.feeds, pool, options);
    lowered.memory_plans.push_back(arena.export_plan().value());
  }
  save_sqm(lowered, path);
  auto engine = make_int8_engine_from_lowered(std::make_shared<Model>(load_sqm(path)));
  ASSERT_EQ(engine->model().memory_plans.size(), 1u);
  ThreadPool pool(1);
  TensorMap outs = engine->run(c.feeds, pool);
  std::string bytes = test::read_bytes(path);
  bytes[bytes.size() / 2] ^= 1;
  test::write_bytes(dir + "/corrupt.sqm", bytes);
  std::ofstream cf(dir + "/case.txt");
  cf << "model " << path << "\ncorrupt " << dir << "/corrupt.sqm\n";
  int k = 0;
  auto put = [&](const char* kind, const std::string& name, const Tensor& t) {
    const std::string file = dir + "/v" + std::to_string(k++) + ".raw";
    test::write_bytes(file, std::string(static_cast<const char*>(t.raw()), t.nbytes()));
    cf << kind << " " << name << " " << dtype_to_onnx(t.dtype()) << " " << t.rank();
    for (int64_t d : t.shape()) cf << " " << d;
    cf << " " << file << "\n";
  };
  for (const auto& [name, t] : c.feeds) put("input", name, t);
  for (const auto& [name, t] : outs) put("output", name, t);
  cf.close();
  const std::string cmd = std::string(SQ_CAPI_SMOKE_PATH) + " " + dir + "/case.txt";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
}

TEST(SqmCApi, PlainCProgramReproducesTheSdBlock) { check_c_api("sd"); }
TEST(SqmCApi, PlainCProgramReproducesTheTrainedOpt) { check_c_api("opt"); }

}  // namespace
}  // namespace sq
