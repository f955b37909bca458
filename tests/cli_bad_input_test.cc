// The bad-input matrix: every `softquant` command (run, eval, compare, bench, generate, quantize,
// sweep, compile, models build opt|sd-attn, models inputs opt|sd-attn) against missing, unreadable,
// truncated and random-byte files, wrong dtypes and shapes, NaN/Inf and empty data sets,
// unsupported ops, and output paths that are unwritable, a directory or on a full disk. Every case
// must exit 1 (no signal) with one error line `softquant: error: ...` on stderr that names what
// was wrong (the last line; before it only the status and progress lines a long command prints
// before it finds the problem), and leave no file (output or temporary) in its output folder.
//
// How the hard cases are made:
// - unreadable input: we run as root, so chmod 000 does not stop a read; a directory is given
//   where a file is expected instead (dir.onnx, dir.npy).
// - read-only place: /proc, where nobody (root included) can create a file.
// - full disk: the child runs with RLIMIT_FSIZE = 64 bytes and SIGXFSZ ignored, so its first
//   write past 64 bytes fails with EFBIG ("File too large"); every output written here is larger.
//   The expected substring checks that error, so the case proves the write really failed; a
//   control test runs the same commands without the limit and checks that they succeed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <iostream>
#include <random>

#include "calib/dataset.h"
#include "models/opt_builder.h"
#include "models/opt_config.h"
#include "models/weight_source.h"
#include "quantizer/quantize.h"
#include "runtime/engine/int8_lowering.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/graph/sqm_format.h"
#include "runtime/io/npy.h"
#include "tests/cli_spawn.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

namespace sq::test {
namespace {

namespace fs = std::filesystem;

constexpr rlim_t kFullDisk = 64;  // RLIMIT_FSIZE of the full-disk cases, bytes

struct Case {
  const char* name;      // the GoogleTest name
  const char* args;      // space-separated; {D} = fixture folder, {O} = this case's output folder
  const char* expected;  // a substring of the error line (names the file, tensor or node)
  rlim_t file_limit = 0;  // if set, the child's RLIMIT_FSIZE (a full disk), bytes
};

// ---- fixtures: one folder of inputs, built once per test process ------------------------------

void write_sample(const std::string& dir, const Tensor& q, const Tensor& k, const Tensor& v) {
  fs::create_directories(dir);
  write_npy(dir + "/q.npy", q);
  write_npy(dir + "/k.npy", k);
  write_npy(dir + "/v.npy", v);
}

std::string cut(const std::string& bytes, size_t keep) { return bytes.substr(0, keep); }

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Adds a node of an op no runtime knows after the model's first output.
Model with_unsupported_op(Model m) {
  Node n;
  n.name = "frob";
  n.op_type = "Frobnicate";
  n.inputs = {m.graph.outputs[0].name};
  n.outputs = {"frob_out"};
  m.graph.nodes.push_back(n);
  ValueInfo vi;
  vi.name = "frob_out";
  m.graph.outputs.push_back(vi);
  return m;
}

// x [2] -> Add(x, c) -> b -> Relu -> c: a cycle; or Add(x, ghost) with nothing producing ghost.
Model broken_graph(bool cycle) {
  Model m;
  m.opset_imports[""] = 17;
  ValueInfo x;
  x.name = "x";
  x.dtype = DType::kFloat32;
  x.has_type = x.has_shape = true;
  x.dims = {Dim{2, ""}};
  m.graph.inputs.push_back(x);
  auto add_node = [&](const char* name, const char* op, std::vector<std::string> in, const char* out) {
    Node n;
    n.name = name;
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = {out};
    m.graph.nodes.push_back(n);
  };
  if (cycle) {
    add_node("n1", "Add", {"x", "c"}, "b");
    add_node("n2", "Relu", {"b"}, "c");
    m.graph.outputs.push_back(m.graph.inputs[0]);
    m.graph.outputs.back().name = "c";
  } else {
    add_node("adder", "Add", {"x", "ghost"}, "y");
    m.graph.outputs.push_back(m.graph.inputs[0]);
    m.graph.outputs.back().name = "y";
  }
  return m;
}

std::string build_fixture() {
  const std::string d = temp_dir();
  // An attention block (inputs q, k, v [1, 2, 8, 8]), its QDQ quantization and its .sqm.
  std::shared_ptr<Model> attn = attention_model(2, 8, 8, /*causal=*/true);
  save_onnx(*attn, d + "/attn.onnx");
  std::mt19937 rng(7);
  const Shape shape{1, 2, 8, 8};
  auto rnd = [&] { return random_tensor(shape, rng, 1.5f); };
  write_sample(d + "/calib/s0", rnd(), rnd(), rnd());
  write_sample(d + "/calib/s1", rnd(), rnd(), rnd());
  for (const char* f : {"q", "k", "v"}) fs::copy_file(d + "/calib/s0/" + f + ".npy", d + "/" + f + ".npy");
  Tensor nan = rnd(), inf = rnd();
  nan.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  inf.data<float>()[9] = -std::numeric_limits<float>::infinity();
  write_sample(d + "/calib_nan/s0", nan, rnd(), rnd());
  write_sample(d + "/calib_inf/s0", rnd(), rnd(), inf);
  write_sample(d + "/calib_dtype/s0", Tensor::zeros(DType::kInt32, shape), rnd(), rnd());
  write_sample(d + "/calib_shape/s0", random_tensor({1, 2, 8, 7}, rng, 1.f), rnd(), rnd());
  fs::create_directories(d + "/calib_empty");
  // Outputs out [1,2,8,4] (384 bytes as .npy) then probs_out [1,2,8,8] (640 bytes): a 512-byte
  // file limit lets the first be written and fails the second.
  save_onnx(*attention_model(2, 8, 4, /*causal=*/false), d + "/attn_d4.onnx");
  for (const char* f : {"q4", "k4", "v4"}) write_npy(d + "/" + f + ".npy", random_tensor({1, 2, 8, 4}, rng, 1.f));
  write_npy(d + "/q_i32.npy", Tensor::zeros(DType::kInt32, shape));
  write_npy(d + "/q_shape.npy", random_tensor({1, 2, 8, 7}, rng, 1.f));

  QuantConfig config;
  SampleSet calib = SampleSet::load(parse_data_spec("inputs:" + d + "/calib"), attn->graph, 0, 0);
  QuantizeResult q = build_quantized_model(*attn, config, calibrate_model(attn, config, calib, 1));
  save_onnx(q.model, d + "/qdq.onnx");
  save_onnx(with_unsupported_op(q.model), d + "/qdq_unsupported.onnx");
  save_onnx(with_unsupported_op(*attn), d + "/unsupported.onnx");
  save_sqm(lower_to_int8(q.model), d + "/model.sqm");

  // A tiny OPT (vocab 256) and token files for eval, sweep and token calibration.
  auto weights = make_synthetic_weights(0);
  save_onnx(build_opt(opt_config("opt-tiny"), OptBuildOptions{}, *weights), d + "/opt.onnx");
  std::vector<int64_t> ids(64);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i * 37 % 256);
  write_npy(d + "/tokens.npy", Tensor::from_vector<int64_t>({64}, ids));
  write_npy(d + "/tokens_empty.npy", Tensor::zeros(DType::kInt64, {0}));
  write_npy(d + "/tokens_f32.npy", Tensor::zeros(DType::kFloat32, {64}));
  write_npy(d + "/tokens_2d.npy", Tensor::from_vector<int64_t>({2, 32}, ids));
  write_bytes(d + "/text.txt", "hello world, hello softquant\n");
  std::vector<int64_t> long_ids(120, 7);  // opt-tiny has 128 positions
  write_npy(d + "/tokens_long.npy", Tensor::from_vector<int64_t>({120}, long_ids));

  // Graphs with a cycle or a dangling input, as ONNX and as .sqm (neither writer checks).
  for (bool cycle : {true, false}) {
    const std::string name = cycle ? "/cycle" : "/dangling";
    save_onnx(broken_graph(cycle), d + name + ".onnx");
    save_sqm(broken_graph(cycle), d + name + ".sqm");
  }
  write_npy(d + "/x.npy", Tensor::from_vector<float>({2}, {1.f, 2.f}));

  // Damaged and misplaced files.
  const std::string onnx = read_bytes(d + "/attn.onnx"), sqm = read_bytes(d + "/model.sqm");
  write_bytes(d + "/truncated.onnx", cut(onnx, onnx.size() / 2));
  write_bytes(d + "/random.onnx", random_bytes(4096, 1));
  write_bytes(d + "/truncated.sqm", cut(sqm, sqm.size() / 2));
  std::string flipped = sqm;
  flipped[flipped.size() / 2] ^= 0x10;
  write_bytes(d + "/bitflip.sqm", flipped);
  write_bytes(d + "/random.sqm", std::string("SQMODEL\0", 8) + random_bytes(4088, 2));
  write_bytes(d + "/random.json", random_bytes(512, 3));
  write_bytes(d + "/plain_file", "not a folder");
  fs::create_directories(d + "/dir.onnx");
  fs::create_directories(d + "/dir.npy");
  return d;
}

const std::string& fixture_dir() {
  static const std::string dir = build_fixture();
  return dir;
}

// ---- the matrix ------------------------------------------------------------------------------

#define RUN_INPUTS " -i q={D}/q.npy -i k={D}/k.npy -i v={D}/v.npy"
#define RUN_ATTN "run {D}/attn.onnx" RUN_INPUTS
#define EVAL_OPT "eval {D}/opt.onnx --context 16 "
#define BENCH "bench --repeat 1 "
#define GENERATE "generate --engine fp32 --max-new 2 "
#define GENERATE_OPT GENERATE "{D}/opt.onnx --tokens {D}/tokens.npy"
#define QUANT_OUT " -o {O}/q.onnx"
#define QUANT_ATTN "quantize {D}/attn.onnx --calib inputs:{D}/calib"
#define SWEEP_ATTN_EVAL " --inputs {D}/calib --softmax-bits 8 --softmax-bc none"
#define SWEEP_ATTN "sweep {D}/attn.onnx --calib inputs:{D}/calib" SWEEP_ATTN_EVAL
#define SWEEP_OPT "sweep {D}/opt.onnx --context 16 --softmax-bits 8 --softmax-bc none"
#define BUILD_OPT "models build opt --config opt-tiny"
#define BUILD_SD "models build sd-attn --channels 32 --size 2"
#define INPUTS_OPT "models inputs opt --seq 4"
#define INPUTS_SD "models inputs sd-attn --channels 32 --size 2"

const Case kCases[] = {
    // run: ONNX or .sqm model, .npy inputs, an output folder.
    {"run_missing_model", "run {D}/missing.onnx" RUN_INPUTS " -o {O}/r", "missing.onnx: no such file"},
    {"run_model_is_dir", "run {D}/dir.onnx" RUN_INPUTS " -o {O}/r", "dir.onnx: is a directory"},
    {"run_truncated_onnx", "run {D}/truncated.onnx" RUN_INPUTS " -o {O}/r", "truncated.onnx: not a valid ONNX model"},
    {"run_random_onnx", "run {D}/random.onnx" RUN_INPUTS " -o {O}/r", "random.onnx: not a valid ONNX model"},
    {"run_truncated_sqm", "run {D}/truncated.sqm" RUN_INPUTS " -o {O}/r", "truncated.sqm: truncated .sqm file"},
    {"run_random_sqm", "run {D}/random.sqm" RUN_INPUTS " -o {O}/r", "random.sqm: .sqm version"},
    {"run_bitflip_sqm", "run {D}/bitflip.sqm" RUN_INPUTS " -o {O}/r", "bitflip.sqm: corrupted .sqm file (checksum mismatch"},
    {"run_unsupported_op", "run {D}/unsupported.onnx" RUN_INPUTS " -o {O}/r", "node 'frob' (Frobnicate)"},
    {"run_onnx_cycle", "run {D}/cycle.onnx -i x={D}/x.npy -o {O}/r", "cycle.onnx: graph has a cycle through node 'n"},
    {"run_onnx_dangling_input", "run {D}/dangling.onnx -i x={D}/x.npy -o {O}/r", "input 'ghost'"},
    {"run_sqm_cycle", "run {D}/cycle.sqm -i x={D}/x.npy -o {O}/r", "cycle.sqm: graph has a cycle through node 'n"},
    {"run_sqm_dangling_input", "run {D}/dangling.sqm -i x={D}/x.npy -o {O}/r", "dangling.sqm: node 'adder' (Add): input 'ghost'"},
    {"bench_sqm_cycle", BENCH "{D}/cycle.sqm", "cycle.sqm: graph has a cycle through node 'n"},
    {"run_missing_input", "run {D}/attn.onnx -i q={D}/nope.npy -i k={D}/k.npy -i v={D}/v.npy -o {O}/r", "nope.npy: no such file"},
    {"run_input_is_dir", "run {D}/attn.onnx -i q={D}/dir.npy -i k={D}/k.npy -i v={D}/v.npy -o {O}/r", "dir.npy: is a directory"},
    {"run_input_wrong_dtype", "run {D}/attn.onnx -i q={D}/q_i32.npy -i k={D}/k.npy -i v={D}/v.npy -o {O}/r", "input 'q': got int32"},
    {"run_input_wrong_shape", "run {D}/attn.onnx -i q={D}/q_shape.npy -i k={D}/k.npy -i v={D}/v.npy -o {O}/r", "input 'q'"},
    {"run_sqm_input_wrong_dtype", "run {D}/model.sqm -i q={D}/q_i32.npy -i k={D}/k.npy -i v={D}/v.npy -o {O}/r", "input 'q': got int32"},
    {"run_output_unwritable", RUN_ATTN " -o /proc/sq_no_such_dir", "/proc/sq_no_such_dir"},
    {"run_output_is_file", RUN_ATTN " -o {D}/plain_file", "plain_file: exists and is not a folder"},
    {"run_output_disk_full", RUN_ATTN " -o {O}/r", "File too large", kFullDisk},
    {"run_disk_full_at_second_output", "run {D}/attn_d4.onnx -i q={D}/q4.npy -i k={D}/k4.npy -i v={D}/v4.npy -o {O}/r", "probs_out.npy: write failed (File too large)", 512},
    {"run_sqm_output_disk_full", "run {D}/model.sqm" RUN_INPUTS " -o {O}/r", "File too large", kFullDisk},

    // eval: token models only; no output files.
    {"eval_missing_model", "eval {D}/missing.onnx --tokens {D}/tokens.npy", "missing.onnx: no such file"},
    {"eval_model_is_dir", "eval {D}/dir.onnx --tokens {D}/tokens.npy", "dir.onnx: is a directory"},
    {"eval_truncated_onnx", "eval {D}/truncated.onnx --tokens {D}/tokens.npy", "truncated.onnx: not a valid ONNX model"},
    {"eval_random_onnx", "eval {D}/random.onnx --tokens {D}/tokens.npy", "random.onnx: not a valid ONNX model"},
    {"eval_sqm_model", "eval {D}/model.sqm --tokens {D}/tokens.npy", "model.sqm: is a compiled .sqm model, expected an ONNX file"},
    {"eval_unsupported_op", "eval {D}/unsupported.onnx --tokens {D}/tokens.npy", "node 'frob' (Frobnicate)"},
    {"eval_missing_tokens", EVAL_OPT "--tokens {D}/nope.npy", "nope.npy: no such file"},
    {"eval_tokens_is_dir", EVAL_OPT "--tokens {D}/dir.npy", "dir.npy: is a directory"},
    {"eval_tokens_wrong_dtype", EVAL_OPT "--tokens {D}/tokens_f32.npy", "tokens_f32.npy: token file"},
    {"eval_tokens_wrong_shape", EVAL_OPT "--tokens {D}/tokens_2d.npy", "tokens_2d.npy: token file must be 1-D"},
    {"eval_tokens_empty", EVAL_OPT "--tokens {D}/tokens_empty.npy", "tokens_empty.npy: empty data set"},
    {"eval_missing_text", EVAL_OPT "--text {D}/nope.txt --tokenizer bytes", "nope.txt: no such file"},
    {"eval_missing_tokenizer", EVAL_OPT "--text {D}/text.txt --tokenizer {D}/no_tokenizer", "no_tokenizer"},

    // compare: two models and a folder of samples; no output files.
    {"compare_missing_reference", "compare {D}/missing.onnx {D}/qdq.onnx --inputs {D}/calib", "missing.onnx: no such file"},
    {"compare_missing_test", "compare {D}/attn.onnx {D}/missing.onnx --inputs {D}/calib", "missing.onnx: no such file"},
    {"compare_test_is_dir", "compare {D}/attn.onnx {D}/dir.onnx --inputs {D}/calib", "dir.onnx: is a directory"},
    {"compare_truncated_onnx", "compare {D}/attn.onnx {D}/truncated.onnx --inputs {D}/calib", "truncated.onnx: not a valid ONNX model"},
    {"compare_random_onnx", "compare {D}/random.onnx {D}/qdq.onnx --inputs {D}/calib", "random.onnx: not a valid ONNX model"},
    {"compare_sqm_model", "compare {D}/attn.onnx {D}/model.sqm --inputs {D}/calib", "model.sqm: is a compiled .sqm model"},
    {"compare_unsupported_op", "compare {D}/attn.onnx {D}/qdq_unsupported.onnx --inputs {D}/calib", "node 'frob' (Frobnicate)"},
    {"compare_missing_inputs", "compare {D}/attn.onnx {D}/qdq.onnx --inputs {D}/nope", "nope: no such folder"},
    {"compare_inputs_empty", "compare {D}/attn.onnx {D}/qdq.onnx --inputs {D}/calib_empty", "calib_empty: empty data set"},
    {"compare_inputs_wrong_dtype", "compare {D}/attn.onnx {D}/qdq.onnx --inputs {D}/calib_dtype", "input 'q': got int32"},
    {"compare_inputs_wrong_shape", "compare {D}/attn.onnx {D}/qdq.onnx --inputs {D}/calib_shape", "input 'q'"},
    {"compare_inputs_nan", "compare {D}/attn.onnx {D}/qdq.onnx --inputs {D}/calib_nan", "NaN"},

    // bench: ONNX or .sqm; generated inputs or --inputs DIR; no output files.
    {"bench_missing_model", BENCH "{D}/missing.onnx", "missing.onnx: no such file"},
    {"bench_model_is_dir", BENCH "{D}/dir.onnx", "dir.onnx: is a directory"},
    {"bench_truncated_onnx", BENCH "{D}/truncated.onnx", "truncated.onnx: not a valid ONNX model"},
    {"bench_random_onnx", BENCH "{D}/random.onnx", "random.onnx: not a valid ONNX model"},
    {"bench_truncated_sqm", BENCH "{D}/truncated.sqm", "truncated.sqm: truncated .sqm file"},
    {"bench_random_sqm", BENCH "{D}/random.sqm", "random.sqm: .sqm version"},
    {"bench_bitflip_sqm", BENCH "{D}/bitflip.sqm", "bitflip.sqm: corrupted .sqm file (checksum mismatch"},
    {"bench_decode_truncated_sqm", BENCH "--decode 2 {D}/truncated.sqm", "truncated.sqm: truncated .sqm file"},
    {"bench_decode_sqm_not_a_decoder", BENCH "--decode 2 {D}/cycle.sqm", "cycle.sqm: cached decoding: the graph has no 'input_ids' input"},
    {"bench_decode_unsupported_op", BENCH "--decode 2 --engine fp32 {D}/unsupported.onnx", "node 'frob' (Frobnicate)"},
    {"bench_unsupported_op", BENCH "{D}/unsupported.onnx", "node 'frob' (Frobnicate)"},
    {"bench_missing_inputs", BENCH "{D}/attn.onnx --inputs {D}/nope", "nope/q.npy: no such file"},
    {"bench_inputs_wrong_dtype", BENCH "{D}/attn.onnx --inputs {D}/calib_dtype/s0", "input 'q': got int32"},
    {"bench_inputs_wrong_shape", BENCH "{D}/model.sqm --inputs {D}/calib_shape/s0", "input 'q'"},

    // generate: a decoder (ONNX or .sqm) and a prompt -> prompt + generated ids as .npy.
    {"generate_missing_model", GENERATE "{D}/missing.onnx --tokens {D}/tokens.npy", "missing.onnx: no such file"},
    {"generate_model_is_dir", GENERATE "{D}/dir.onnx --tokens {D}/tokens.npy", "dir.onnx: is a directory"},
    {"generate_truncated_onnx", GENERATE "{D}/truncated.onnx --tokens {D}/tokens.npy", "truncated.onnx: not a valid ONNX model"},
    {"generate_random_onnx", GENERATE "{D}/random.onnx --tokens {D}/tokens.npy", "random.onnx: not a valid ONNX model"},
    {"generate_truncated_sqm", "generate {D}/truncated.sqm --tokens {D}/tokens.npy", "truncated.sqm: truncated .sqm file"},
    {"generate_bitflip_sqm", "generate {D}/bitflip.sqm --tokens {D}/tokens.npy", "bitflip.sqm: corrupted .sqm file (checksum mismatch"},
    {"generate_sqm_not_a_decoder", "generate {D}/cycle.sqm --tokens {D}/tokens.npy", "cycle.sqm: cached decoding: the graph has no 'input_ids' input"},
    {"generate_float_model_on_int8", "generate {D}/opt.onnx --tokens {D}/tokens.npy", "--engine int8 needs a quantized (QDQ) model"},
    {"generate_unsupported_op", GENERATE "{D}/unsupported.onnx --tokens {D}/tokens.npy", "node 'frob' (Frobnicate)"},
    {"generate_missing_tokens", GENERATE "{D}/opt.onnx --tokens {D}/nope.npy", "nope.npy: no such file"},
    {"generate_tokens_is_dir", GENERATE "{D}/opt.onnx --tokens {D}/dir.npy", "dir.npy: is a directory"},
    {"generate_tokens_wrong_dtype", GENERATE "{D}/opt.onnx --tokens {D}/tokens_f32.npy", "tokens_f32.npy: token ids must be int64"},
    {"generate_tokens_wrong_shape", GENERATE "{D}/opt.onnx --tokens {D}/tokens_2d.npy", "tokens_2d.npy: token ids must be 1-D or [1, n]"},
    {"generate_tokens_empty", GENERATE "{D}/opt.onnx --tokens {D}/tokens_empty.npy", "tokens_empty.npy: the prompt holds no tokens"},
    // Fails mid-generation, after tokens were streamed to stderr: the error must start its own line.
    {"generate_past_max_positions", "generate --engine fp32 --max-new 20 {D}/opt.onnx --tokens {D}/tokens_long.npy", "node '"},
    {"generate_output_no_folder", GENERATE_OPT " -o {O}/no/ids.npy", "folder {O}/no does not exist"},
    {"generate_output_unwritable", GENERATE_OPT " -o /proc/sq_ids.npy", "/proc/sq_ids.npy: cannot write"},
    {"generate_output_is_dir", GENERATE_OPT " -o {O}", "{O}: is a directory"},
    {"generate_output_disk_full", GENERATE_OPT " -o {O}/ids.npy", "ids.npy: write failed (File too large)", kFullDisk},

    // quantize: FP32 model + calibration data -> QDQ model (and encodings).
    {"quantize_missing_model", "quantize {D}/missing.onnx --calib inputs:{D}/calib" QUANT_OUT, "missing.onnx: no such file"},
    {"quantize_model_is_dir", "quantize {D}/dir.onnx --calib inputs:{D}/calib" QUANT_OUT, "dir.onnx: is a directory"},
    {"quantize_truncated_onnx", "quantize {D}/truncated.onnx --calib inputs:{D}/calib" QUANT_OUT, "truncated.onnx: not a valid ONNX model"},
    {"quantize_random_onnx", "quantize {D}/random.onnx --calib inputs:{D}/calib" QUANT_OUT, "random.onnx: not a valid ONNX model"},
    {"quantize_sqm_model", "quantize {D}/model.sqm --calib inputs:{D}/calib" QUANT_OUT, "model.sqm: is a compiled .sqm model"},
    {"quantize_unsupported_op", "quantize {D}/unsupported.onnx --calib inputs:{D}/calib" QUANT_OUT, "node 'frob' (Frobnicate)"},
    {"quantize_missing_calib", "quantize {D}/attn.onnx --calib inputs:{D}/nope" QUANT_OUT, "nope: no such folder"},
    {"quantize_calib_empty", "quantize {D}/attn.onnx --calib inputs:{D}/calib_empty" QUANT_OUT, "calib_empty: empty data set"},
    {"quantize_calib_nan", "quantize {D}/attn.onnx --calib inputs:{D}/calib_nan" QUANT_OUT, "'q'"},
    {"quantize_calib_inf", "quantize {D}/attn.onnx --calib inputs:{D}/calib_inf" QUANT_OUT, "'v'"},
    {"quantize_calib_wrong_dtype", "quantize {D}/attn.onnx --calib inputs:{D}/calib_dtype" QUANT_OUT, "input 'q': got int32"},
    {"quantize_calib_wrong_shape", "quantize {D}/attn.onnx --calib inputs:{D}/calib_shape" QUANT_OUT, "input 'q'"},
    {"quantize_calib_npy_is_dir", "quantize {D}/opt.onnx --calib tokens:{D}/dir.npy --context 16" QUANT_OUT, "dir.npy: is a directory"},
    {"quantize_tokens_empty", "quantize {D}/opt.onnx --calib tokens:{D}/tokens_empty.npy --context 16" QUANT_OUT, "tokens_empty.npy: empty data set"},
    {"quantize_tokens_wrong_dtype", "quantize {D}/opt.onnx --calib tokens:{D}/tokens_f32.npy --context 16" QUANT_OUT, "tokens_f32.npy: token file"},
    {"quantize_output_no_folder", QUANT_ATTN " -o {O}/no/such/q.onnx", "folder {O}/no/such does not exist"},
    {"quantize_output_unwritable", QUANT_ATTN " -o /proc/sq_q.onnx", "/proc/sq_q.onnx: cannot write"},
    {"quantize_output_is_dir", QUANT_ATTN " -o {O}", "{O}: is a directory"},
    {"quantize_output_disk_full", QUANT_ATTN QUANT_OUT, "q.onnx: write failed (File too large)", kFullDisk},
    {"quantize_encodings_no_folder", QUANT_ATTN QUANT_OUT " --encodings {O}/no/e.json", "folder {O}/no does not exist"},

    // sweep: writes results.json, report.md and report.html into --out.
    {"sweep_missing_model", "sweep {D}/missing.onnx --calib inputs:{D}/calib" SWEEP_ATTN_EVAL " -o {O}/s", "missing.onnx: no such file"},
    {"sweep_truncated_onnx", "sweep {D}/truncated.onnx --calib inputs:{D}/calib" SWEEP_ATTN_EVAL " -o {O}/s", "truncated.onnx: not a valid ONNX model"},
    {"sweep_random_onnx", "sweep {D}/random.onnx --calib inputs:{D}/calib" SWEEP_ATTN_EVAL " -o {O}/s", "random.onnx: not a valid ONNX model"},
    {"sweep_unsupported_op", "sweep {D}/unsupported.onnx --calib inputs:{D}/calib" SWEEP_ATTN_EVAL " -o {O}/s", "node 'frob' (Frobnicate)"},
    {"sweep_calib_nan", "sweep {D}/attn.onnx --calib inputs:{D}/calib_nan" SWEEP_ATTN_EVAL " -o {O}/s", "'q'"},
    {"sweep_calib_inf", "sweep {D}/attn.onnx --calib inputs:{D}/calib_inf" SWEEP_ATTN_EVAL " -o {O}/s", "'v'"},
    {"sweep_calib_empty", "sweep {D}/attn.onnx --calib inputs:{D}/calib_empty" SWEEP_ATTN_EVAL " -o {O}/s", "calib_empty: empty data set"},
    {"sweep_calib_wrong_dtype", "sweep {D}/attn.onnx --calib inputs:{D}/calib_dtype" SWEEP_ATTN_EVAL " -o {O}/s", "input 'q': got int32"},
    {"sweep_calib_wrong_shape", "sweep {D}/attn.onnx --calib inputs:{D}/calib_shape" SWEEP_ATTN_EVAL " -o {O}/s", "input 'q'"},
    {"sweep_eval_inputs_nan", "sweep {D}/attn.onnx --calib inputs:{D}/calib --inputs {D}/calib_nan --softmax-bits 8 --softmax-bc none -o {O}/s", "'q'"},
    {"sweep_eval_tokens_empty", SWEEP_OPT " --calib tokens:{D}/tokens.npy --tokens {D}/tokens_empty.npy -o {O}/s", "tokens_empty.npy: empty data set"},
    {"sweep_calib_tokens_empty", SWEEP_OPT " --calib tokens:{D}/tokens_empty.npy --tokens {D}/tokens.npy -o {O}/s", "tokens_empty.npy: empty data set"},
    {"sweep_output_unwritable", SWEEP_ATTN " -o /proc/sq_sweep", "/proc/sq_sweep"},
    {"sweep_output_is_file", SWEEP_ATTN " -o {D}/plain_file", "plain_file"},
    {"sweep_output_disk_full", SWEEP_ATTN " -o {O}/s", "results.json: write failed (File too large)", kFullDisk},

    // compile: QDQ model -> .sqm.
    {"compile_missing_model", "compile {D}/missing.onnx -o {O}/m.sqm", "missing.onnx: no such file"},
    {"compile_model_is_dir", "compile {D}/dir.onnx -o {O}/m.sqm", "dir.onnx: is a directory"},
    {"compile_truncated_onnx", "compile {D}/truncated.onnx -o {O}/m.sqm", "truncated.onnx: not a valid ONNX model"},
    {"compile_random_onnx", "compile {D}/random.onnx -o {O}/m.sqm", "random.onnx: not a valid ONNX model"},
    {"compile_sqm_model", "compile {D}/model.sqm -o {O}/m.sqm", "model.sqm: is a compiled .sqm model"},
    {"compile_float_model", "compile {D}/attn.onnx -o {O}/m.sqm", "attn.onnx: has no QuantizeLinear"},
    {"compile_unsupported_op", "compile {D}/qdq_unsupported.onnx -o {O}/m.sqm", "node 'frob' (Frobnicate)"},
    {"compile_output_no_folder", "compile {D}/qdq.onnx -o {O}/no/m.sqm", "folder {O}/no does not exist"},
    {"compile_output_unwritable", "compile {D}/qdq.onnx -o /proc/sq_m.sqm", "/proc/sq_m.sqm: cannot write"},
    {"compile_output_is_dir", "compile {D}/qdq.onnx -o {O}", "{O}: is a directory"},
    {"compile_output_disk_full", "compile {D}/qdq.onnx -o {O}/m.sqm", "m.sqm: write failed (File too large)", kFullDisk},
    {"compile_plan_shape_unknown_input", "compile {D}/qdq.onnx --plan-shape x=1x2 -o {O}/m.sqm", "--plan-shape 'x=1x2': the model has no input 'x'"},
    {"compile_plan_shape_malformed", "compile {D}/qdq.onnx --plan-shape q=1xAx8x8 -o {O}/m.sqm", "--plan-shape 'q=1xAx8x8': expected NAME=D0xD1x..."},
    {"compile_plan_shape_no_name", "compile {D}/qdq.onnx --plan-shape 1x2x8x8 -o {O}/m.sqm", "--plan-shape '1x2x8x8': expected NAME=D0xD1x..."},
    {"compile_plan_shape_zero_dim", "compile {D}/qdq.onnx --plan-shape q=1x0x8x8 -o {O}/m.sqm", "positive integer dimensions"},
    {"compile_plan_shape_wrong_rank", "compile {D}/qdq.onnx --plan-shape q=1x2x8 -o {O}/m.sqm", "input 'q' has rank 4, not 3"},
    {"compile_plan_shape_not_static", "compile {D}/qdq.onnx --plan-shape q=1x2x8x9 -o {O}/m.sqm", "dimension 3 of input 'q' is 8"},
    {"compile_plan_shape_twice", "compile {D}/qdq.onnx --plan-shape q=1x2x8x8 --plan-shape q=1x2x8x8 -o {O}/m.sqm", "input 'q' given twice"},

    // models build: config / weights files -> an ONNX model.
    {"build_opt_missing_config", "models build opt --config {D}/nope.json -o {O}/m.onnx", "nope.json"},
    {"build_opt_config_is_dir", "models build opt --config {D}/dir.onnx -o {O}/m.onnx", "dir.onnx"},
    {"build_opt_random_config", "models build opt --config {D}/random.json -o {O}/m.onnx", "random.json"},
    {"build_opt_missing_weights", BUILD_OPT " --weights {D}/nope.onnx -o {O}/m.onnx", "nope.onnx"},
    {"build_opt_truncated_weights", BUILD_OPT " --weights {D}/truncated.onnx -o {O}/m.onnx", "truncated.onnx: not a valid ONNX model"},
    {"build_opt_wrong_weights", BUILD_OPT " --weights {D}/attn.onnx -o {O}/m.onnx", "attn.onnx"},
    {"build_opt_output_no_folder", BUILD_OPT " -o {O}/no/m.onnx", "folder {O}/no does not exist"},
    {"build_opt_output_unwritable", BUILD_OPT " -o /proc/sq_m.onnx", "/proc/sq_m.onnx: cannot write"},
    {"build_opt_output_is_dir", BUILD_OPT " -o {O}", "{O}: is a directory"},
    {"build_opt_output_disk_full", BUILD_OPT " -o {O}/m.onnx", "m.onnx: write failed (File too large)", kFullDisk},
    {"build_sd_missing_weights", BUILD_SD " --weights {D}/nope -o {O}/m.onnx", "nope"},
    {"build_sd_random_weights", BUILD_SD " --weights {D}/random.onnx -o {O}/m.onnx", "random.onnx: not a valid ONNX model"},
    {"build_sd_output_unwritable", BUILD_SD " -o /proc/sq_m.onnx", "/proc/sq_m.onnx: cannot write"},
    {"build_sd_output_is_dir", BUILD_SD " -o {O}", "{O}: is a directory"},
    {"build_sd_output_disk_full", BUILD_SD " -o {O}/m.onnx", "m.onnx: write failed (File too large)", kFullDisk},

    // models inputs: -> a folder of .npy files.
    {"inputs_opt_output_unwritable", INPUTS_OPT " -o /proc/sq_inputs", "/proc/sq_inputs"},
    {"inputs_opt_output_is_file", INPUTS_OPT " -o {D}/plain_file", "plain_file"},
    {"inputs_opt_output_disk_full", INPUTS_OPT " -o {O}/in", "File too large", kFullDisk},
    {"inputs_sd_output_unwritable", INPUTS_SD " -o /proc/sq_inputs", "/proc/sq_inputs"},
    {"inputs_sd_output_is_file", INPUTS_SD " -o {D}/plain_file", "plain_file"},
    {"inputs_sd_output_disk_full", INPUTS_SD " -o {O}/in", "File too large", kFullDisk},
};

std::string substitute(std::string s, const std::string& d, const std::string& o) {
  for (auto [key, value] : {std::pair<std::string, std::string>{"{D}", d}, {"{O}", o}}) {
    for (size_t p; (p = s.find(key)) != std::string::npos;) s.replace(p, key.size(), value);
  }
  return s;
}

std::vector<std::string> split_args(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Regular files (at any depth) under a folder: what a failed command must not leave behind.
std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_directory()) files.push_back(e.path().string());
  }
  return files;
}

// The error line of a failed command's stderr, or "" if stderr does not end with exactly one:
// the last line, starting "softquant: error: ". Lines before it may only be the status and
// progress lines a long command prints before it finds the problem ("softquant: calibrating on
// 2 sample(s); ...", "calibrating: 1/2 (50%), ...").
std::string error_line(const std::string& err) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < err.size();) {
    size_t j = err.find('\n', i);
    if (j == std::string::npos) return "";  // every line ends with a newline
    lines.push_back(err.substr(i, j - i));
    i = j + 1;
  }
  if (lines.empty() || lines.back().rfind("softquant: error: ", 0) != 0) return "";
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].find("error") != std::string::npos) return "";
  }
  return lines.back();
}

class CliBadInput : public ::testing::TestWithParam<Case> {};

TEST_P(CliBadInput, OneLineErrorAndNothingWritten) {
  const Case& c = GetParam();
  const std::string d = fixture_dir();
  const std::vector<std::string> fixture_files_before = files_under(d);
  const std::string o = temp_dir();
  const std::vector<std::string> args = split_args(substitute(c.args, d, o));
  const std::string expected = substitute(c.expected, d, o);
  SpawnOptions options;
  if (c.file_limit) options.file_size_limit = c.file_limit;
  const SpawnResult r = spawn_cli(args, options);
  SCOPED_TRACE(substitute(c.args, d, o));
  EXPECT_EQ(r.signal, 0) << "killed by signal " << r.signal << "; stderr: " << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string error = error_line(r.err);
  std::cout << "  " << error << "\n";  // what the user sees, in the test log for review
  EXPECT_FALSE(error.empty()) << "stderr is not status lines then one error line:\n" << r.err;
  EXPECT_NE(error.find(expected), std::string::npos) << "expected '" << expected << "' in: " << r.err;
  EXPECT_EQ(files_under(o), std::vector<std::string>{}) << "left behind in the output folder";
  EXPECT_EQ(files_under(d), fixture_files_before) << "wrote into the input folder";
}

INSTANTIATE_TEST_SUITE_P(Matrix, CliBadInput, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.name);
                         });

// The full-disk cases are only meaningful if the same command succeeds without the limit.
TEST(CliBadInputControl, FullDiskCasesSucceedWithoutTheLimit) {
  const std::string d = fixture_dir();
  for (const Case& c : kCases) {
    if (!c.file_limit) continue;
    SCOPED_TRACE(c.name);
    const std::string o = temp_dir();
    const SpawnResult r = spawn_cli(split_args(substitute(c.args, d, o)));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(files_under(o).empty());
  }
}

// On a terminal, progress bars are redrawn in place without a newline. An error thrown mid-bar
// must still start its own line (it used to be glued to the end of the bar).
TEST(CliBadInputTerminal, ErrorLineStartsItsOwnLineAfterAProgressBar) {
  const std::string d = fixture_dir();
  const std::string o = temp_dir();
  SpawnOptions tty;
  tty.stderr_tty = true;
  const SpawnResult r = spawn_cli(
      split_args(substitute("quantize {D}/attn.onnx --calib inputs:{D}/calib_nan -o {O}/q.onnx", d, o)), tty);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ASSERT_NE(r.err.find("calibrating ["), std::string::npos) << "no progress bar drawn: " << r.err;
  const size_t at = r.err.find("softquant: error: ");
  ASSERT_NE(at, std::string::npos) << r.err;
  EXPECT_EQ(r.err[at - 1], '\n') << r.err;
  EXPECT_NE(r.err.find("holds NaN", at), std::string::npos) << r.err;
  EXPECT_EQ(files_under(o), std::vector<std::string>{});
}

// "/dev/full semantics": an output path that is a device. Every file is written to a temporary
// and renamed, so a device at the path is never written to; before the fix the rename replaced
// the device node with a regular file (as root, /dev/full itself) and the command "succeeded".
// A private character device with /dev/full's numbers is made in a temporary folder.
TEST(CliBadInputDevice, OutputPathThatIsADeviceIsRefusedAndKept) {
  const std::string d = fixture_dir();
  const std::string o = temp_dir();
  const std::string dev = o + "/full";
  if (::mknod(dev.c_str(), S_IFCHR | 0600, ::makedev(1, 7)) != 0) {
    GTEST_SKIP() << "mknod not permitted here";
  }
  for (const char* args : {"compile {D}/qdq.onnx -o {O}/full", QUANT_ATTN " -o {O}/full",
                           BUILD_OPT " -o {O}/full", "quantize {D}/attn.onnx --calib inputs:{D}/calib -o {O}/q.onnx --encodings {O}/full"}) {
    SCOPED_TRACE(args);
    const SpawnResult r = spawn_cli(split_args(substitute(args, d, o)));
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(dev + ": exists and is not a regular file"), std::string::npos) << r.err;
    EXPECT_TRUE(fs::is_character_file(dev));
    EXPECT_EQ(files_under(o), std::vector<std::string>{dev});
  }
}

}  // namespace
}  // namespace sq::test
