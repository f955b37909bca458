// Greedy generation (runtime/engine/generation.h) with each cache kind, against references:
//  * the runtime int8 KV cache (engine/decode_graph.h) against the same int8 engine recomputing
//    the whole sequence each step: bit-identical logits for every generated position;
//  * int8 against the QDQ simulation: the same tokens;
//  * Optimum-style past_key_values graphs (torch export) against the plain export of the same
//    weights recomputed, in fp32, and the int8 cache on the graph's own quantizer grid;
//  * a compiled .sqm against the QDQ ONNX; a full cache and bad graphs refused with a message.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "calib/dataset.h"
#include "quantizer/evaluate.h"
#include "quantizer/quantize.h"
#include "runtime/engine/constant_folding.h"
#include "runtime/engine/decode_graph.h"
#include "runtime/engine/generation.h"
#include "runtime/engine/int8_engine.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/graph/sqm_format.h"
#include "runtime/io/npy.h"
#include "runtime/ops/kv_cache.h"
#include "tests/test_util.h"

namespace sq {
namespace {

std::string bundled_dir() { return std::string(SQ_SOURCE_DIR) + "/models/assets/opt-bytes"; }

std::shared_ptr<Model> load_folded(const std::string& path) {
  auto m = std::make_shared<Model>(load_onnx(path));
  fold_constants(*m);
  return m;
}

std::shared_ptr<const Model> quantize_on(std::shared_ptr<Model> m, const SampleSet& data,
                                         QuantConfig config = {}) {
  Calibration cal = calibrate_model(m, config, data, 2);
  return std::make_shared<const Model>(build_quantized_model(*m, config, cal).model);
}

// The bundled trained byte-level OPT, W8A8 with 8-bit softmax and the per-length correction.
std::shared_ptr<const Model> quantized_bundled() {
  static std::shared_ptr<const Model> q = [] {
    auto m = load_folded(bundled_dir() + "/model.onnx");
    QuantConfig config;
    config.softmax_bc = BcGranularity::kLength;
    SampleSet data = SampleSet::load(
        parse_data_spec("tokens:" + bundled_dir() + "/calib_tokens.npy"), m->graph, 128, 2);
    return quantize_on(m, data, config);
  }();
  return q;
}

std::vector<int64_t> prompt_of(const std::string& text) {
  return std::vector<int64_t>(text.begin(), text.end());
}

std::unique_ptr<ReferenceEngine> cached_int8_engine(const Model& qdq) {
  return make_int8_engine_from_lowered(
      std::make_shared<Model>(prepare_for_cached_decoding(lower_to_int8(qdq))));
}

TEST(Generation, RuntimeCacheMatchesRecomputingTheWholeSequenceBitForBit) {
  auto q = quantized_bundled();
  auto cached = cached_int8_engine(*q);
  auto full = make_int8_engine(*q);
  ASSERT_EQ(decode_cache_for(cached->model()), DecodeCache::kRuntime);
  ThreadPool pool(2);
  std::vector<int64_t> ids = prompt_of("The Python interpreter reads");
  KvCache cache(64);
  int64_t past = 0;
  for (int step = 0; step < 12; ++step) {
    const int64_t total = static_cast<int64_t>(ids.size());
    TensorMap feeds;
    feeds["input_ids"] = Tensor::from_vector<int64_t>({1, total}, ids);
    feeds["attention_mask"] = Tensor::from_vector<int64_t>({1, total}, std::vector<int64_t>(ids.size(), 1));
    TensorMap f = full->run(feeds, pool);
    feeds[kPastLengthInput] = Tensor::from_vector<int64_t>({1}, {past});
    TensorMap c = cached->run(feeds, pool, nullptr, &cache);
    const Tensor& fl = f.at("logits");
    const Tensor& cl = c.at("logits");
    ASSERT_EQ(cl.shape(), Shape({1, total - past, fl.dim(2)})) << "step " << step;
    ASSERT_EQ(cache.length(), total);
    // The cached run's rows are the full run's last rows, bit for bit.
    const int64_t vocab = fl.dim(2);
    const float* fp = fl.data<float>() + past * vocab;
    int64_t differ = 0;
    for (int64_t i = 0; i < cl.numel(); ++i) differ += fp[i] != cl.data<float>()[i];
    ASSERT_EQ(differ, 0) << "step " << step << ": " << differ << " of " << cl.numel() << " logits differ";
    // Next token: greedy on the last row.
    const float* last = cl.data<float>() + (total - past - 1) * vocab;
    int64_t best = 0;
    for (int64_t v = 1; v < vocab; ++v)
      if (last[v] > last[best]) best = v;
    past = total;
    ids.push_back(best);
  }
}

TEST(Generation, Int8WithItsCacheGivesTheSimulationsTokens) {
  auto q = quantized_bundled();
  ThreadPool pool(2);
  GenerationOptions opt;
  opt.max_new = 24;
  const std::vector<int64_t> prompt = prompt_of("A module is a file containing Python definitions");
  ReferenceEngine sim(q);
  auto int8 = cached_int8_engine(*q);
  GenerationResult s = generate_greedy(sim, prompt, opt, pool);
  GenerationResult i = generate_greedy(*int8, prompt, opt, pool);
  EXPECT_EQ(s.cache_storage, "none");
  EXPECT_EQ(i.cache_storage, "uint8");
  // 4 layers x (4 heads x 64 keys + 4 x 64 values) bytes per token, capacity prompt + 24.
  EXPECT_EQ(i.cache_bytes, static_cast<size_t>(4 * 2 * 256 * (prompt.size() + 24)));
  EXPECT_EQ(s.tokens, i.tokens);
  EXPECT_EQ(i.generated, 24);
  std::printf("sim : %s\nint8: %s\n", std::string(s.tokens.begin(), s.tokens.end()).c_str(),
              std::string(i.tokens.begin(), i.tokens.end()).c_str());
}

TEST(Generation, CompiledSqmGeneratesWhatTheQdqOnnxDoes) {
  auto q = quantized_bundled();
  const std::string path = test::temp_dir() + "/generation_bundled.sqm";
  save_sqm(lower_to_int8(*q), path);
  auto from_sqm = make_int8_engine_from_lowered(
      std::make_shared<Model>(prepare_for_cached_decoding(load_sqm(path))));
  auto from_onnx = cached_int8_engine(*q);
  ThreadPool pool(2);
  GenerationOptions opt;
  opt.max_new = 16;
  const std::vector<int64_t> prompt = prompt_of("Exceptions are");
  EXPECT_EQ(generate_greedy(*from_sqm, prompt, opt, pool).tokens,
            generate_greedy(*from_onnx, prompt, opt, pool).tokens);
}

TEST(Generation, PastKeyValuesGraphMatchesThePlainExportRecomputed) {
  // The same torch OPT exported twice: with Optimum's past_key_values I/O, and plain.
  const std::string kv = test::data_dir() + "/torch/opt_tiny_kv_opset17/model.onnx";
  const std::string plain = test::data_dir() + "/torch/opt_tiny_opset17/model.onnx";
  ReferenceEngine with_cache(std::make_shared<const Model>(load_onnx(kv)));
  ReferenceEngine recompute(std::make_shared<const Model>(load_onnx(plain)));
  ASSERT_EQ(decode_cache_for(with_cache.model()), DecodeCache::kGraph);
  ASSERT_EQ(decode_cache_for(recompute.model()), DecodeCache::kRecompute);
  ThreadPool pool(2);
  GenerationOptions opt;
  opt.max_new = 12;
  const std::vector<int64_t> prompt = {2, 100, 37, 12, 250, 7};
  GenerationResult a = generate_greedy(with_cache, prompt, opt, pool);
  GenerationResult b = generate_greedy(recompute, prompt, opt, pool);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.cache_storage, "float32");
}

// The torch-exported tiny OPT (HF layout), quantized on its own test inputs.
std::shared_ptr<const Model> quantized_torch_opt(const std::string& name) {
  const std::string dir = test::data_dir() + "/torch/" + name;
  auto m = load_folded(dir + "/model.onnx");
  SampleSet data = SampleSet::load(parse_data_spec("inputs:" + dir + "/inputs"), m->graph, 0, 0);
  return quantize_on(m, data);
}

// Greedy tokens of the simulation and of an int8 engine on the same prompt must agree; the int8
// cache must be uint8.
void expect_simulation_tokens(const std::shared_ptr<const Model>& qdq, const ReferenceEngine& int8) {
  ReferenceEngine sim(qdq);
  ThreadPool pool(2);
  GenerationOptions opt;
  opt.max_new = 16;
  const std::vector<int64_t> prompt = {2, 31, 7, 99, 4, 18, 250, 3};
  GenerationResult s = generate_greedy(sim, prompt, opt, pool);
  GenerationResult i = generate_greedy(int8, prompt, opt, pool);
  EXPECT_EQ(i.cache_storage, "uint8");
  EXPECT_EQ(s.tokens, i.tokens);
}

TEST(Generation, TorchExportedPlainDecoderOnInt8GivesTheSimulationsTokens) {
  auto q = quantized_torch_opt("opt_tiny_opset17");
  expect_simulation_tokens(q, *cached_int8_engine(*q));
}

TEST(Generation, QuantizedPastKeyValuesGraphKeepsAUint8CacheAndTheSimulationsTokens) {
  auto q = quantized_torch_opt("opt_tiny_kv_opset17");
  auto int8 = make_int8_engine(*q);
  ASSERT_EQ(decode_cache_for(int8->model()), DecodeCache::kGraph);
  expect_simulation_tokens(q, *int8);
}

TEST(Generation, FullCacheAndUnrecognizedGraphsAreRefusedWithAMessage) {
  auto q = quantized_bundled();
  auto cached = cached_int8_engine(*q);
  ThreadPool pool(2);
  KvCache small(4);
  TensorMap feeds;
  feeds["input_ids"] = Tensor::from_vector<int64_t>({1, 6}, {1, 2, 3, 4, 5, 6});
  feeds["attention_mask"] = Tensor::from_vector<int64_t>({1, 6}, {1, 1, 1, 1, 1, 1});
  feeds[kPastLengthInput] = Tensor::from_vector<int64_t>({1}, {0});
  try {
    cached->run(feeds, pool, nullptr, &small);
    FAIL() << "a 6-token step fitted in a 4-token cache";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KV cache holds 4 tokens"), std::string::npos) << e.what();
  }
  // A graph without fused attention (the FP32 model) cannot keep a runtime cache.
  Model fp32 = load_onnx(bundled_dir() + "/model.onnx");
  try {
    prepare_for_cached_decoding(fp32);
    FAIL() << "prepared a graph without AttentionU8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attention pattern was not recognized"), std::string::npos)
        << e.what();
  }
  ReferenceEngine sim(q);
  EXPECT_THROW(generate_greedy(sim, {}, GenerationOptions{}, pool), Error);
}

TEST(Generation, CliWritesPromptAndTokensAndRefusesABadPrompt) {
  const std::string dir = test::temp_dir();
  const std::string qdq = dir + "/generation_cli_qdq.onnx";
  save_onnx(*quantized_bundled(), qdq);
  write_npy(dir + "/generation_prompt.npy", Tensor::from_vector<int64_t>({5}, {84, 104, 101, 32, 80}));
  const std::string out = dir + "/generation_out.npy";
  std::filesystem::remove(out);
  test::CliResult r = test::run_cli("generate " + qdq + " --tokens " + dir +
                                    "/generation_prompt.npy --max-new 8 -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Tensor t = read_npy(out);
  ASSERT_EQ(t.shape(), Shape({13}));
  EXPECT_EQ(t.data<int64_t>()[0], 84);
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;
  // The same with the simulation: the same ids.
  const std::string out_sim = dir + "/generation_out_sim.npy";
  r = test::run_cli("generate " + qdq + " --tokens " + dir +
                    "/generation_prompt.npy --max-new 8 --engine sim -o " + out_sim);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_npy(out_sim).to_int64_vector(), t.to_int64_vector());
  // A float prompt is refused before anything runs, and leaves no output.
  write_npy(dir + "/generation_float.npy", Tensor::from_vector<float>({2}, {1.f, 2.f}));
  const std::string out_bad = dir + "/generation_bad.npy";
  r = test::run_cli("generate " + qdq + " --tokens " + dir + "/generation_float.npy -o " + out_bad);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("must be int64 or int32"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out_bad));
}

}  // namespace
}  // namespace sq
