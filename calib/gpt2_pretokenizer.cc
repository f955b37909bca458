#include "calib/gpt2_pretokenizer.h"

#include <algorithm>
#include <iterator>

namespace sq {

namespace {

struct ClassRange {
  char32_t lo, hi;
  char cls;  // 'S' whitespace, 'N' number, 'O' other (neither letter, number nor whitespace)
};

// Non-ASCII code points that are not letters, from Unicode 14 General_Category (L* letters,
// N* numbers, everything else other) and White_Space, restricted to the blocks the header lists;
// a code point outside every range is a letter. Sorted, non-overlapping.
constexpr ClassRange kRanges[] = {
    {0x80, 0x84, 'O'},       {0x85, 0x85, 'S'},       {0x86, 0x9F, 'O'},
    {0xA0, 0xA0, 'S'},       {0xA1, 0xA9, 'O'},       {0xAB, 0xB1, 'O'},
    {0xB2, 0xB3, 'N'},       {0xB4, 0xB4, 'O'},       {0xB6, 0xB8, 'O'},
    {0xB9, 0xB9, 'N'},       {0xBB, 0xBB, 'O'},       {0xBC, 0xBE, 'N'},
    {0xBF, 0xBF, 'O'},       {0xD7, 0xD7, 'O'},       {0xF7, 0xF7, 'O'},
    {0x2C2, 0x2C5, 'O'},     {0x2D2, 0x2DF, 'O'},     {0x2E5, 0x2EB, 'O'},
    {0x2ED, 0x2ED, 'O'},     {0x2EF, 0x36F, 'O'},     {0x375, 0x375, 'O'},
    {0x378, 0x379, 'O'},     {0x37E, 0x37E, 'O'},     {0x380, 0x385, 'O'},
    {0x387, 0x387, 'O'},     {0x38B, 0x38B, 'O'},     {0x38D, 0x38D, 'O'},
    {0x3A2, 0x3A2, 'O'},     {0x3F6, 0x3F6, 'O'},     {0x482, 0x489, 'O'},
    {0x530, 0x530, 'O'},     {0x557, 0x558, 'O'},     {0x55A, 0x55F, 'O'},
    {0x589, 0x5CF, 'O'},     {0x5EB, 0x5EE, 'O'},     {0x5F3, 0x61F, 'O'},
    {0x64B, 0x65F, 'O'},     {0x660, 0x669, 'N'},     {0x66A, 0x66D, 'O'},
    {0x670, 0x670, 'O'},     {0x6D4, 0x6D4, 'O'},     {0x6D6, 0x6E4, 'O'},
    {0x6E7, 0x6ED, 'O'},     {0x6F0, 0x6F9, 'N'},     {0x6FD, 0x6FE, 'O'},
    {0x7C0, 0x7C9, 'N'},     {0x900, 0x903, 'O'},     {0x93A, 0x93C, 'O'},
    {0x93E, 0x94F, 'O'},     {0x951, 0x957, 'O'},     {0x962, 0x965, 'O'},
    {0x966, 0x96F, 'N'},     {0x970, 0x970, 'O'},     {0x9E6, 0x9EF, 'N'},
    {0x9F4, 0x9F9, 'N'},     {0xA66, 0xA6F, 'N'},     {0xAE6, 0xAEF, 'N'},
    {0xB66, 0xB6F, 'N'},     {0xB72, 0xB77, 'N'},     {0xBE6, 0xBF2, 'N'},
    {0xC66, 0xC6F, 'N'},     {0xC78, 0xC7E, 'N'},     {0xCE6, 0xCEF, 'N'},
    {0xD58, 0xD5E, 'N'},     {0xD66, 0xD78, 'N'},     {0xDE6, 0xDEF, 'N'},
    {0xE00, 0xE00, 'O'},     {0xE31, 0xE31, 'O'},     {0xE34, 0xE3F, 'O'},
    {0xE47, 0xE4F, 'O'},     {0xE50, 0xE59, 'N'},     {0xE5A, 0xE7F, 'O'},
    {0xED0, 0xED9, 'N'},     {0xF20, 0xF33, 'N'},     {0x1040, 0x1049, 'N'},
    {0x1090, 0x1099, 'N'},   {0x1369, 0x137C, 'N'},   {0x1680, 0x1680, 'S'},
    {0x16EE, 0x16F0, 'N'},   {0x17E0, 0x17E9, 'N'},   {0x17F0, 0x17F9, 'N'},
    {0x1810, 0x1819, 'N'},   {0x1946, 0x194F, 'N'},   {0x19D0, 0x19DA, 'N'},
    {0x1A80, 0x1A89, 'N'},   {0x1A90, 0x1A99, 'N'},   {0x1B50, 0x1B59, 'N'},
    {0x1BB0, 0x1BB9, 'N'},   {0x1C40, 0x1C49, 'N'},   {0x1C50, 0x1C59, 'N'},
    {0x2000, 0x200A, 'S'},   {0x200B, 0x2027, 'O'},   {0x2028, 0x2029, 'S'},
    {0x202A, 0x202E, 'O'},   {0x202F, 0x202F, 'S'},   {0x2030, 0x205E, 'O'},
    {0x205F, 0x205F, 'S'},   {0x2060, 0x206F, 'O'},   {0x2070, 0x2070, 'N'},
    {0x2072, 0x2073, 'O'},   {0x2074, 0x2079, 'N'},   {0x207A, 0x207E, 'O'},
    {0x2080, 0x2089, 'N'},   {0x208A, 0x208F, 'O'},   {0x209D, 0x2101, 'O'},
    {0x2103, 0x2106, 'O'},   {0x2108, 0x2109, 'O'},   {0x2114, 0x2114, 'O'},
    {0x2116, 0x2118, 'O'},   {0x211E, 0x2123, 'O'},   {0x2125, 0x2125, 'O'},
    {0x2127, 0x2127, 'O'},   {0x2129, 0x2129, 'O'},   {0x212E, 0x212E, 'O'},
    {0x213A, 0x213B, 'O'},   {0x2140, 0x2144, 'O'},   {0x214A, 0x214D, 'O'},
    {0x214F, 0x214F, 'O'},   {0x2150, 0x2182, 'N'},   {0x2185, 0x2189, 'N'},
    {0x218A, 0x245F, 'O'},   {0x2460, 0x249B, 'N'},   {0x249C, 0x24E9, 'O'},
    {0x24EA, 0x24FF, 'N'},   {0x2500, 0x2775, 'O'},   {0x2776, 0x2793, 'N'},
    {0x2794, 0x2BFF, 'O'},   {0x2CFD, 0x2CFD, 'N'},   {0x2E00, 0x2E2E, 'O'},
    {0x2E30, 0x2E7F, 'O'},   {0x3000, 0x3000, 'S'},   {0x3001, 0x3004, 'O'},
    {0x3007, 0x3007, 'N'},   {0x3008, 0x3020, 'O'},   {0x3021, 0x3029, 'N'},
    {0x302A, 0x3030, 'O'},   {0x3036, 0x3037, 'O'},   {0x3038, 0x303A, 'N'},
    {0x303D, 0x3040, 'O'},   {0x3097, 0x309C, 'O'},   {0x30A0, 0x30A0, 'O'},
    {0x30FB, 0x30FB, 'O'},   {0x3192, 0x3195, 'N'},   {0x3220, 0x3229, 'N'},
    {0x3248, 0x324F, 'N'},   {0x3251, 0x325F, 'N'},   {0x3280, 0x3289, 'N'},
    {0x32B1, 0x32BF, 'N'},   {0xA620, 0xA629, 'N'},   {0xA6E6, 0xA6EF, 'N'},
    {0xA830, 0xA835, 'N'},   {0xA8D0, 0xA8D9, 'N'},   {0xA900, 0xA909, 'N'},
    {0xA9D0, 0xA9D9, 'N'},   {0xA9F0, 0xA9F9, 'N'},   {0xAA50, 0xAA59, 'N'},
    {0xABF0, 0xABF9, 'N'},   {0xFE00, 0xFE0F, 'O'},   {0xFE30, 0xFE6F, 'O'},
    {0xFEFF, 0xFF0F, 'O'},   {0xFF10, 0xFF19, 'N'},   {0xFF1A, 0xFF20, 'O'},
    {0xFF3B, 0xFF40, 'O'},   {0xFF5B, 0xFF65, 'O'},   {0xFFBF, 0xFFC1, 'O'},
    {0xFFC8, 0xFFC9, 'O'},   {0xFFD0, 0xFFD1, 'O'},   {0xFFD8, 0xFFD9, 'O'},
    {0xFFDD, 0xFFFF, 'O'},   {0x1D7CE, 0x1D7FF, 'N'}, {0x1F000, 0x1F0FF, 'O'},
    {0x1F100, 0x1F10C, 'N'}, {0x1F10D, 0x1FAFF, 'O'}, {0xE0000, 0xE007F, 'O'},
};

// One decoded code point of the text.
struct CodePoint {
  size_t offset, length;
  CharClass cls;
  char32_t cp;
};

// Decodes one UTF-8 sequence at s[i]; an invalid or truncated sequence yields its first byte
// alone, as a non-letter (cp 0xFFFFFFFF).
CodePoint decode_at(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return {i, 1, classify_code_point(b0), b0};
  size_t len = 0;  // 0xC0, 0xC1 (overlong) and 0xF5.. (beyond U+10FFFF) never start a sequence
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
  }
  CodePoint bad{i, 1, CharClass::kOther, 0xFFFFFFFF};
  if (len == 0 || i + len > s.size()) return bad;
  char32_t cp = b0 & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return bad;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  const char32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad;
  return {i, len, classify_code_point(cp), cp};
}

}  // namespace

CharClass classify_code_point(char32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::kLetter;
    if (cp >= '0' && cp <= '9') return CharClass::kNumber;
    if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return CharClass::kSpace;
    return CharClass::kOther;
  }
  auto it = std::upper_bound(std::begin(kRanges), std::end(kRanges), cp,
                             [](char32_t c, const ClassRange& r) { return c < r.lo; });
  if (it == std::begin(kRanges) || cp > std::prev(it)->hi) return CharClass::kLetter;
  switch (std::prev(it)->cls) {
    case 'S':
      return CharClass::kSpace;
    case 'N':
      return CharClass::kNumber;
    default:
      return CharClass::kOther;
  }
}

std::vector<std::string_view> gpt2_pretokenize(std::string_view text) {
  std::vector<CodePoint> cps;
  for (size_t i = 0; i < text.size(); i += cps.back().length) cps.push_back(decode_at(text, i));
  const size_t n = cps.size();
  const auto is = [&](size_t k, CharClass c) { return k < n && cps[k].cls == c; };
  const auto ascii = [&](size_t k, char c) {
    return k < n && cps[k].cp == static_cast<char32_t>(c);
  };

  std::vector<std::string_view> pieces;
  size_t i = 0;
  while (i < n) {
    size_t end = i;  // one past the last code point of the piece
    if (ascii(i, '\'') &&
        (ascii(i + 1, 's') || ascii(i + 1, 't') || ascii(i + 1, 'm') || ascii(i + 1, 'd'))) {
      end = i + 2;  // 's 't 'm 'd
    } else if (ascii(i, '\'') && ((ascii(i + 1, 'r') && ascii(i + 2, 'e')) ||
                                  (ascii(i + 1, 'v') && ascii(i + 2, 'e')) ||
                                  (ascii(i + 1, 'l') && ascii(i + 2, 'l')))) {
      end = i + 3;  // 're 've 'll
    } else {
      // ` ?X+` for X = letters, numbers, other: an optional U+0020, then a run of class X.
      const size_t j = ascii(i, ' ') ? i + 1 : i;
      for (CharClass c : {CharClass::kLetter, CharClass::kNumber, CharClass::kOther}) {
        if (!is(j, c)) continue;
        end = j;
        while (is(end, c)) ++end;
        break;
      }
      if (end == i) {
        // Whitespace: `\s+(?!\S)` leaves the last space before a non-space to the next piece;
        // a single space before a non-space falls through to `\s+`.
        while (is(end, CharClass::kSpace)) ++end;
        if (end < n && end - i >= 2) --end;
      }
    }
    const size_t begin_byte = cps[i].offset;
    const size_t end_byte = end < n ? cps[end].offset : text.size();
    pieces.push_back(text.substr(begin_byte, end_byte - begin_byte));
    i = end;
  }
  return pieces;
}

}  // namespace sq
