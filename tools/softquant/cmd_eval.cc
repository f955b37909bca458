// `softquant eval`: perplexity of a causal LM over non-overlapping token windows, from a token
// file or from text tokenized in memory (bytes or GPT-2/OPT BPE).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "calib/tokenizer.h"
#include "quantizer/evaluate.h"
#include "runtime/core/json.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/read_file.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

struct EvalArgs {
  std::string model, tokens, text, tokenizer, engine = "fp32";
  int64_t context = 512, max_windows = 0, bos_id = -1;
  bool json = false;
  int threads = 2;
};

SampleSet token_file_windows(const EvalArgs& a, const Graph& graph) {
  DataSpec spec{DataSpec::Kind::kTokens, a.tokens};
  return SampleSet::load(spec, graph, a.context, a.max_windows, /*include_tail=*/true);
}

// Tokenizes the text in memory (nothing is written to disk).
SampleSet text_windows(const EvalArgs& a, const Graph& graph) {
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::open(a.tokenizer);
  const std::string text = read_file_bytes(a.text, "a text file");
  std::vector<int64_t> ids;
  if (a.bos_id >= 0) ids.push_back(a.bos_id);
  const std::vector<int64_t> text_ids = tokenizer->encode(text);
  ids.insert(ids.end(), text_ids.begin(), text_ids.end());
  const std::string bos_note = a.bos_id >= 0 ? ", BOS id " + std::to_string(a.bos_id) + " first" : "";
  std::printf("text %s: %zu bytes -> %zu tokens (%s%s)\n", a.text.c_str(), text.size(), ids.size(),
              tokenizer->describe().c_str(), bos_note.c_str());
  return SampleSet::from_tokens(ids, a.text, graph, a.context, a.max_windows, /*include_tail=*/true);
}

void eval_command(const EvalArgs& a) {
  SQ_CHECK(a.tokens.empty() != a.text.empty(), "eval needs exactly one of --tokens FILE.npy and "
           "--text FILE.txt (with --tokenizer)");
  ModelRunner runner(std::make_shared<const Model>(load_onnx(a.model)), parse_engine_kind(a.engine));
  const Graph& graph = runner.model().graph;  // same inputs and outputs as the file's graph
  SampleSet windows = a.text.empty() ? token_file_windows(a, graph) : text_windows(a, graph);
  PerplexityResult r = evaluate_perplexity(runner, windows, a.threads);
  std::printf("perplexity %.4f over %lld predicted tokens in %lld window(s) of up to %lld tokens (engine %s)\n",
              r.perplexity, static_cast<long long>(r.tokens), static_cast<long long>(r.windows),
              static_cast<long long>(a.context), a.engine.c_str());
  if (a.json) {
    Json j = Json::object();
    j.set("perplexity", r.perplexity);
    j.set("tokens", r.tokens);
    j.set("windows", r.windows);
    std::cout << j.dump() << "\n";
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Perplexity of a causal LM (ONNX, FP32 or QDQ) on a token file or text");
  cmd->add_option("model", a->model, "ONNX model with input_ids (and attention_mask) -> logits")->required();
  CLI::Option* tokens = cmd->add_option("--tokens", a->tokens, "1-D int64 .npy token ids");
  CLI::Option* text =
      cmd->add_option("--text", a->text, "Text file (UTF-8), tokenized in memory with --tokenizer");
  CLI::Option* tokenizer = cmd->add_option(
      "--tokenizer", a->tokenizer,
      "'bytes' (id = byte) or a folder with GPT-2/OPT BPE files: vocab.json + merges.txt (or "
      "encoder.json + vocab.bpe)");
  CLI::Option* bos =
      cmd->add_option("--bos-id", a->bos_id, "Token id put before the text (OPT: 2); default none")
          ->check(CLI::NonNegativeNumber);
  tokens->excludes(text);
  text->needs(tokenizer);
  tokenizer->needs(text);
  bos->needs(text);
  cmd->add_option("--context", a->context, "Tokens per window (non-overlapping)")->default_val(512)->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  cmd->add_option("--max-windows", a->max_windows, "Evaluate at most K windows (0: all)")->default_val(0);
  cmd->add_option("--engine", a->engine, "fp32 (ops as written), sim (QDQ simulation) or int8 (integer kernels)")->default_val("fp32");
  cmd->add_flag("--json", a->json, "Print {\"perplexity\", \"tokens\", \"windows\"} as JSON on the last line");
  cmd->add_option("--threads", a->threads, "Worker threads")->default_val(2)->check(CLI::Range(1, 256));
  cmd->callback([a] { eval_command(*a); });
}

}  // namespace sq::cli
