#include "calib/tokenizer.h"

#include <array>
#include <filesystem>
#include <functional>
#include <mutex>
#include <queue>
#include <tuple>
#include <unordered_map>

#include "calib/gpt2_pretokenizer.h"
#include "runtime/core/error.h"
#include "runtime/core/json.h"
#include "runtime/io/read_file.h"

namespace sq {

namespace {

namespace fs = std::filesystem;

class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<int64_t> encode(const std::string& text) const override {
    std::vector<int64_t> ids;
    ids.reserve(text.size());
    for (char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string text;
    text.reserve(ids.size());
    for (int64_t id : ids) {
      SQ_CHECK(id >= 0 && id < 256, "token id ", id, " is outside the bytes tokenizer's 256 ids");
      text += static_cast<char>(id);
    }
    return text;
  }
  int64_t vocab_size() const override { return 256; }
  int64_t token_id(const std::string& token) const override {
    return token.size() == 1 ? static_cast<unsigned char>(token[0]) : -1;
  }
  std::string describe() const override { return "bytes"; }
};

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {  // the byte alphabet stays below U+0800; vocab strings are copied, never re-encoded
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF)
// stand for themselves; the other 68 bytes map, in byte order, to U+0100, U+0101, ...
std::array<char32_t, 256> bytes_to_unicode() {
  std::array<char32_t, 256> table{};
  char32_t next = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
  }
  return table;
}

// Maps a vocabulary string back to the bytes it stands for. A character outside the byte
// alphabet (possible only in added tokens) is kept as its own UTF-8.
std::string token_bytes(const std::string& token,
                        const std::unordered_map<char32_t, char>& byte_of) {
  std::string out;
  for (size_t i = 0; i < token.size();) {
    const unsigned char b0 = static_cast<unsigned char>(token[i]);
    size_t len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
    if (i + len > token.size()) len = token.size() - i;
    char32_t cp = len == 1 ? b0 : b0 & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(token[i + k]) & 0x3F);
    }
    auto it = byte_of.find(cp);
    if (it != byte_of.end()) {
      out += it->second;
    } else {
      out.append(token, i, len);
    }
    i += len;
  }
  return out;
}

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(const std::string& dir, const std::string& vocab_path,
               const std::string& merges_path) {
    load_vocab(vocab_path);
    load_merges(merges_path);
    description_ = "BPE " + dir + " (" + std::to_string(vocab_.size()) + " tokens, " +
                   std::to_string(merges_.size()) + " merges)";
  }

  std::vector<int64_t> encode(const std::string& text) const override {
    std::vector<int64_t> ids;
    for (std::string_view piece : gpt2_pretokenize(text)) {
      std::vector<int64_t> piece_ids = cached_bpe(std::string(piece));
      ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
    }
    return ids;
  }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string text;
    for (int64_t id : ids) {
      SQ_CHECK(id >= 0 && id < vocab_size() && has_id_[static_cast<size_t>(id)], "token id ", id,
               " is not in the vocabulary of ", description_);
      text += id_bytes_[static_cast<size_t>(id)];
    }
    return text;
  }

  int64_t vocab_size() const override { return static_cast<int64_t>(id_bytes_.size()); }
  int64_t token_id(const std::string& token) const override {
    auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
  }
  std::string describe() const override { return description_; }

 private:
  struct Merge {
    int64_t rank, result;
  };
  static uint64_t pair_key(int64_t a, int64_t b) {
    return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b);
  }

  void load_vocab(const std::string& path) {
    Json j = Json::parse(read_file_bytes(path, "a JSON vocabulary"), path);
    SQ_CHECK(j.is_object() && j.size() > 0, path,
             ": expected a non-empty JSON object of token -> id");
    for (const auto& [token, value] : j.members()) {
      SQ_CHECK(value.is_number() && value.as_number() >= 0 && value.as_number() < (1 << 30) &&
                   value.as_number() == static_cast<double>(value.as_int()),
               path, ": token '", token, "' has id ", value.dump(),
               ", expected an integer in [0, 2^30)");
      const int64_t id = value.as_int();
      vocab_.emplace(token, id);  // the parser keeps the last of duplicate keys
      if (id >= vocab_size()) {
        id_bytes_.resize(static_cast<size_t>(id) + 1);
        has_id_.resize(static_cast<size_t>(id) + 1, false);
      }
      SQ_CHECK(!has_id_[static_cast<size_t>(id)], path, ": id ", id, " is given to two tokens");
      has_id_[static_cast<size_t>(id)] = true;
    }
    const std::array<char32_t, 256> to_unicode = bytes_to_unicode();
    std::unordered_map<char32_t, char> byte_of;
    for (int b = 0; b < 256; ++b) {
      byte_of[to_unicode[static_cast<size_t>(b)]] = static_cast<char>(b);
      std::string symbol;
      append_utf8(symbol, to_unicode[static_cast<size_t>(b)]);
      auto it = vocab_.find(symbol);
      SQ_CHECK(it != vocab_.end(), path, ": no token for byte ", b, " ('", symbol,
               "'), expected GPT-2's byte-level alphabet");
      byte_id_[static_cast<size_t>(b)] = it->second;
    }
    for (const auto& [token, id] : vocab_) {
      id_bytes_[static_cast<size_t>(id)] = token_bytes(token, byte_of);
    }
  }

  void load_merges(const std::string& path) {
    const std::string text = read_file_bytes(path, "a BPE merges file");
    size_t line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
      const size_t space = line.find(' ');
      const std::string a = line.substr(0, space),
                        b = space == std::string::npos ? "" : line.substr(space + 1);
      SQ_CHECK(!a.empty() && !b.empty() && b.find(' ') == std::string::npos, path, " line ",
               line_no, ": expected two tokens separated by one space, got '", line, "'");
      const int64_t ia = token_id(a), ib = token_id(b), ir = token_id(a + b);
      SQ_CHECK(ia >= 0 && ib >= 0 && ir >= 0, path, " line ", line_no, ": merge '", line,
               "' uses or makes a token that is not in the vocabulary");
      merges_.emplace(pair_key(ia, ib), Merge{static_cast<int64_t>(merges_.size()), ir});
    }
  }

  // Merges the bytes of one piece, lowest rank first and leftmost first among equal ranks (what
  // GPT-2's loop "merge every occurrence of the best pair, repeat" does), in O(n log n).
  std::vector<int64_t> bpe(const std::string& piece) const {
    struct Symbol {
      int64_t id;
      int prev, next;
    };
    std::vector<Symbol> syms;
    const int n = static_cast<int>(piece.size());
    for (int i = 0; i < n; ++i) {
      syms.push_back({byte_id_[static_cast<unsigned char>(piece[static_cast<size_t>(i)])], i - 1,
                      i + 1 < n ? i + 1 : -1});
    }
    // (rank, left, right, left id, right id): stale once either symbol has changed.
    using Candidate = std::tuple<int64_t, int, int, int64_t, int64_t>;
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    const auto consider = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      auto it = merges_.find(pair_key(syms[left].id, syms[right].id));
      if (it != merges_.end()) {
        queue.emplace(it->second.rank, left, right, syms[left].id, syms[right].id);
      }
    };
    for (int i = 0; i + 1 < n; ++i) consider(i, i + 1);
    while (!queue.empty()) {
      const auto [rank, left, right, left_id, right_id] = queue.top();
      queue.pop();
      if (syms[left].id != left_id || syms[right].id != right_id || syms[left].next != right) {
        continue;
      }
      syms[left].id = merges_.at(pair_key(left_id, right_id)).result;
      syms[right].id = -1;
      syms[left].next = syms[right].next;
      if (syms[left].next >= 0) syms[syms[left].next].prev = left;
      consider(syms[left].prev, left);
      consider(left, syms[left].next);
    }
    std::vector<int64_t> ids;
    for (int i = n > 0 ? 0 : -1; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
    return ids;
  }

  std::vector<int64_t> cached_bpe(const std::string& piece) const {
    {
      std::lock_guard<std::mutex> lock(cache_mutex_);
      auto it = cache_.find(piece);
      if (it != cache_.end()) return it->second;
    }
    std::vector<int64_t> ids = bpe(piece);
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(piece, ids);
    return ids;
  }

  static constexpr size_t kMaxCacheEntries = 1 << 17;

  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> id_bytes_;  // id -> the bytes it decodes to
  std::vector<bool> has_id_;           // ids may have holes
  std::array<int64_t, 256> byte_id_{};
  std::unordered_map<uint64_t, Merge> merges_;  // (left id, right id) -> rank, merged id
  std::string description_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;  // piece -> ids
};

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::open(const std::string& dir_or_bytes) {
  if (dir_or_bytes == "bytes") return std::make_unique<ByteTokenizer>();
  std::error_code ec;
  const std::string& dir = dir_or_bytes;
  const char* expected =
      "expected 'bytes' or a folder holding vocab.json and merges.txt (or "
      "encoder.json and vocab.bpe)";
  SQ_CHECK(fs::is_directory(dir, ec), "tokenizer '", dir, "': no such folder, ", expected);
  for (const auto& [vocab, merges] :
       {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}}) {
    const fs::path v = fs::path(dir) / vocab, m = fs::path(dir) / merges;
    if (fs::exists(v, ec) || fs::exists(m, ec)) {
      return std::make_unique<BpeTokenizer>(dir, v.string(), m.string());
    }
  }
  throw make_error("tokenizer '", dir, "': ", expected);
}

}  // namespace sq
