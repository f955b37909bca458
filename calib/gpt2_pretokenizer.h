// Why this exists: GPT-2 / OPT byte-level BPE first cuts text into pieces with the regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// and merges only within a piece. std::regex has no \p classes (nor Unicode at all), so this
// file runs that regex by hand over UTF-8, with its own code point classes.
//
// Classes: ASCII exactly as the regex sees it. Whitespace is Unicode White_Space exactly (as in
// Hugging Face tokenizers; JavaScript's \s also counts U+FEFF and not U+0085). Numbers (\p{N})
// exactly in the BMP, plus math digits and U+1F100-1F10C. Non-letters (punctuation, symbols,
// marks, controls, unassigned) exactly in these blocks: Latin-1, Latin Extended-A/B, spacing
// modifiers, combining diacritics, Greek, Cyrillic, Armenian, Hebrew, Arabic, Devanagari, Thai,
// General Punctuation through Misc Symbols and Arrows (U+2000-2BFF), Supplemental Punctuation,
// CJK Symbols and Punctuation, kana, variation selectors, CJK compatibility and small forms,
// U+FEFF, half/fullwidth forms and specials (U+FF00-FFFF), emoji and pictographs
// (U+1F000-1FAFF) and tags. Elsewhere every code point counts as a letter: that is the
// approximation. It only matters for punctuation and combining marks of other scripts (say,
// Bengali vowel signs), which then stay inside a letter piece: the ids may differ from GPT-2's
// there, but decode(encode(x)) == x always holds. Bytes that are not valid UTF-8 count as
// non-letters, one byte each.
#pragma once

#include <string_view>
#include <vector>

namespace sq {

enum class CharClass { kLetter, kNumber, kSpace, kOther };

CharClass classify_code_point(char32_t cp);

// The pieces, in order; they concatenate back to `text`.
std::vector<std::string_view> gpt2_pretokenize(std::string_view text);

}  // namespace sq
