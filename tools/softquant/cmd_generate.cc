// `softquant generate`: greedy generation from a causal decoder (ONNX or compiled .sqm): prefill
// the prompt, then one token at a time, with the KV cache the model and engine allow (see
// runtime/engine/generation.h); writes prompt plus generated ids as int64 .npy.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "calib/tokenizer.h"
#include "quantizer/evaluate.h"
#include "runtime/engine/generation.h"
#include "runtime/io/atomic_file.h"
#include "runtime/io/npy.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

struct GenerateArgs {
  std::string model, tokens, prompt, tokenizer, output, engine = "int8";
  bool engine_given = false;
  int64_t max_new = 32, eos_id = -1;
  int threads = 2;
};

std::vector<int64_t> prompt_ids(const GenerateArgs& a, const Tokenizer* tokenizer) {
  if (tokenizer) return tokenizer->encode(a.prompt);
  const Tensor t = read_npy(a.tokens);
  SQ_CHECK(t.dtype() == DType::kInt64 || t.dtype() == DType::kInt32, a.tokens,
           ": token ids must be int64 or int32, got ", dtype_name(t.dtype()));
  SQ_CHECK(t.rank() == 1 || (t.rank() == 2 && t.dim(0) == 1), a.tokens,
           ": token ids must be 1-D or [1, n], got ", shape_str(t.shape()));
  std::vector<int64_t> ids = t.to_int64_vector();
  SQ_CHECK(!ids.empty(), a.tokens, ": the prompt holds no tokens");
  for (int64_t id : ids) SQ_CHECK(id >= 0, a.tokens, ": negative token id ", id);
  return ids;
}

void generate_command(const GenerateArgs& a) {
  // The output's folder is checked (a temporary file made there) before any work.
  AtomicFile out;
  if (!a.output.empty()) out.open(a.output);
  std::unique_ptr<Tokenizer> tokenizer = a.prompt.empty() ? nullptr : Tokenizer::open(a.tokenizer);
  const std::vector<int64_t> prompt = prompt_ids(a, tokenizer.get());
  SQ_CHECK(!prompt.empty(), "the prompt holds no tokens");
  ModelRunner runner = load_decoder_runner(a.model, parse_engine_kind(a.engine), a.engine_given);
  const DecodeCache cache = decode_cache_for(runner.model());
  std::fprintf(stderr, "generate: %zu prompt tokens, up to %lld new, engine %s, cache: %s\n",
               prompt.size(), static_cast<long long>(a.max_new), a.engine.c_str(),
               decode_cache_name(cache));

  ThreadPool pool(a.threads);
  GenerationOptions opt;
  opt.max_new = a.max_new;
  opt.eos_id = a.eos_id;
  bool streamed = false;
  opt.on_token = [&](int64_t step, int64_t token) {
    streamed = true;
    if (tokenizer) {
      std::fputs(tokenizer->decode({token}).c_str(), stderr);
    } else {
      std::fprintf(stderr, "%s%lld", step == 0 ? "" : " ", static_cast<long long>(token));
    }
    std::fflush(stderr);
  };
  GenerationResult r;
  try {
    r = generate_greedy(runner.engine(), prompt, opt, pool);
  } catch (const Error&) {
    if (streamed) std::fputc('\n', stderr);  // the error line starts its own line
    throw;
  }
  std::fputc('\n', stderr);

  if (!a.output.empty()) {
    const std::string bytes = serialize_npy(
        Tensor::from_vector<int64_t>({static_cast<int64_t>(r.tokens.size())}, r.tokens));
    out.write(bytes.data(), bytes.size());
    out.commit();
  }
  const double decode_steps = static_cast<double>(r.generated - 1);
  std::printf("generated %lld tokens: prefill %.1f ms (%zu tokens), decode %.1f ms", 
              static_cast<long long>(r.generated), r.prefill_ms, prompt.size(), r.decode_ms);
  if (decode_steps > 0) std::printf(" (%.1f tokens/s)", decode_steps * 1000.0 / r.decode_ms);
  std::printf(", cache %s %.2f MB%s%s\n", r.cache_storage.c_str(), r.cache_bytes / 1e6,
              a.output.empty() ? "" : " -> ", a.output.c_str());
  if (tokenizer) {
    std::printf("%s\n", tokenizer->decode(r.tokens).c_str());
  } else {
    for (size_t i = 0; i < r.tokens.size(); ++i)
      std::printf("%s%lld", i ? " " : "", static_cast<long long>(r.tokens[i]));
    std::printf("\n");
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "generate",
      "Greedy generation from a causal decoder with a KV cache: prefill the prompt, then one "
      "token at a time");
  cmd->add_option("model", a->model,
                  "Decoder: ONNX (input_ids [, attention_mask] -> logits, or Optimum's "
                  "past_key_values/present I/O) or a compiled .sqm")
      ->required();
  CLI::Option* tokens = cmd->add_option("--tokens", a->tokens, "Prompt: 1-D (or [1, n]) int64 .npy token ids");
  CLI::Option* prompt = cmd->add_option("--prompt", a->prompt, "Prompt text, tokenized with --tokenizer");
  CLI::Option* tokenizer = cmd->add_option(
      "--tokenizer", a->tokenizer,
      "'bytes' (id = byte) or a folder with GPT-2/OPT BPE files (vocab.json + merges.txt)");
  tokens->excludes(prompt);
  prompt->needs(tokenizer);
  tokenizer->needs(prompt);
  cmd->add_option("--max-new", a->max_new, "Tokens to generate")
      ->default_val(32)
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--eos-id", a->eos_id, "Stop after generating this id (default: never)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--output,-o", a->output, "Write prompt + generated ids here (int64 .npy)");
  CLI::Option* engine =
      cmd->add_option("--engine", a->engine,
                      "int8 (integer kernels, int8 KV cache), sim (QDQ simulation) or fp32")
          ->default_val("int8")
          ->check(CLI::IsMember({"fp32", "sim", "int8"}));
  cmd->add_option("--threads", a->threads, "Worker threads")->default_val(2)->check(CLI::Range(1, 256));
  cmd->callback([a, engine, tokens, prompt] {
    SQ_CHECK(tokens->count() + prompt->count() == 1,
             "generate needs exactly one of --tokens FILE.npy and --prompt TEXT (with --tokenizer)");
    a->engine_given = engine->count() > 0;
    generate_command(*a);
  });
}

}  // namespace sq::cli
