// Why this exists: `softquant eval --text` measures perplexity on real text, so the text has to
// become the token ids the model was trained on. Two tokenizers cover the project's models:
// "bytes" (id = byte value, the byte-level models tools/train builds) and GPT-2 / OPT byte-level
// BPE read from Hugging Face's files: vocab.json (token -> id, in GPT-2's bytes-to-unicode
// alphabet) and merges.txt (merge pairs in rank order), or GPT-2's original encoder.json and
// vocab.bpe, which hold the same content. The pre-tokenizer and its Unicode approximation are
// described in calib/gpt2_pretokenizer.h. Special tokens ("</s>", "<|endoftext|>") in the text
// are encoded as ordinary text; a BOS id is the caller's business (`eval --bos-id`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sq {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // "bytes", or a folder holding vocab.json + merges.txt (or encoder.json + vocab.bpe). Throws
  // sq::Error for a missing folder or file, malformed JSON, or a merges file that does not fit
  // the vocabulary.
  static std::unique_ptr<Tokenizer> open(const std::string& dir_or_bytes);

  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  // Throws sq::Error naming an id that is not in the vocabulary.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // Every id is below this.
  virtual int64_t vocab_size() const = 0;
  // The id of one vocabulary entry (as written in vocab.json; bytes: a one-byte string), or -1.
  virtual int64_t token_id(const std::string& token) const = 0;
  // For messages: "bytes" or "BPE DIR (50257 tokens, 50000 merges)".
  virtual std::string describe() const = 0;
};

}  // namespace sq
