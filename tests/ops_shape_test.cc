// Shape, slicing and generator ops against hand-computed values: Reshape, Transpose, (Un)Squeeze,
// Flatten, Shape, Size, Identity, Concat, Slice, Split, Gather, GatherElements, Tile, ScatterND,
// Trilu, Pad, Constant, ConstantOfShape, Range, EyeLike.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <numeric>

#include "tests/test_util.h"

namespace sq::test {
namespace {

using A = Attribute;
using F = std::vector<float>;
using I = std::vector<int64_t>;

Tensor f32(Shape s, F v) { return Tensor::from_vector<float>(std::move(s), v); }
Tensor i64(Shape s, I v) { return Tensor::from_vector<int64_t>(std::move(s), v); }
Tensor i64v(I v) { return i64({static_cast<int64_t>(v.size())}, v); }
// 0, 1, 2, ... as float32 of the given shape.
Tensor iota(Shape s) {
  F v(static_cast<size_t>(shape_numel(s)));
  std::iota(v.begin(), v.end(), 0.0f);
  return f32(std::move(s), v);
}

Tensor run1(const std::string& op, const std::vector<std::pair<std::string, Tensor>>& in,
            const std::map<std::string, Attribute>& attrs = {}, int64_t opset = 17) {
  return run_single_op(op, in, attrs, 1, opset)[0];
}

// Runs the op's kernel directly, without the engine (which copies graph outputs that alias graph
// inputs), to check which ops return zero-copy views of their input.
Tensor run_kernel(const std::string& op, const std::vector<Tensor>& in,
                  const std::map<std::string, Attribute>& attrs = {}) {
  Node node;
  node.name = "direct_" + op;
  node.op_type = op;
  node.attrs = attrs;
  std::vector<const Tensor*> ptrs;
  for (size_t i = 0; i < in.size(); ++i) {
    node.inputs.push_back("in" + std::to_string(i));
    ptrs.push_back(&in[i]);
  }
  node.outputs = {"out"};
  auto kernel = (*OpRegistry::builtin().find("", op))(node, 17);
  std::vector<Tensor> outs(1);
  ThreadPool pool(1);
  OpContext ctx(node, ptrs, &outs, pool);
  kernel->run(ctx);
  return outs[0];
}

// Runs the op expecting sq::Error; returns its message.
std::string error_of(const std::string& op, const std::vector<std::pair<std::string, Tensor>>& in,
                     const std::map<std::string, Attribute>& attrs = {}) {
  try {
    run_single_op(op, in, attrs);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << op << " did not throw";
  return "";
}

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// ------------------------------------------------------------------------------- Reshape

TEST(Reshape, ZeroCopiesDimAndMinusOneInfers) {
  Tensor x = iota({2, 3, 4});
  Tensor y = run1("Reshape", {{"x", x}, {"s", i64v({0, -1})}});
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_EQ(y.to_float_vector(), x.to_float_vector());
  EXPECT_EQ(run_kernel("Reshape", {x, i64v({4, 6})}).raw(), x.raw()) << "Reshape must be a view";
  EXPECT_EQ(run1("Reshape", {{"x", x}, {"s", i64v({-1, 3, 2})}}).shape(), (Shape{4, 3, 2}));
}

TEST(Reshape, AllowZeroKeepsZero) {
  Tensor x = f32({0, 3}, {});
  Tensor y = run1("Reshape", {{"x", x}, {"s", i64v({3, 0})}}, {{"allowzero", A::of_int(1)}});
  EXPECT_EQ(y.shape(), (Shape{3, 0}));
}

TEST(Reshape, WrongElementCountNamesNode) {
  std::string msg = error_of("Reshape", {{"x", iota({2, 3})}, {"s", i64v({4, 2})}});
  EXPECT_NE(msg.find("test_Reshape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
  msg = error_of("Reshape", {{"x", iota({2, 3})}, {"s", i64v({-1, -1})}});
  EXPECT_NE(msg.find("more than one -1"), std::string::npos) << msg;
  msg = error_of("Reshape", {{"x", iota({2, 3})}, {"s", i64v({4, -1})}});
  EXPECT_NE(msg.find("test_Reshape"), std::string::npos) << msg;
}

// ----------------------------------------------------------------------------- Transpose

TEST(Transpose, DefaultReversesAxes) {
  Tensor y = run1("Transpose", {{"x", iota({2, 3})}});
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(y.to_float_vector(), (F{0, 3, 1, 4, 2, 5}));
}

// Naive reference: out[idx] = in[idx permuted].
F naive_transpose(const Tensor& x, const I& perm) {
  const Shape& s = x.shape();
  Shape os;
  for (int64_t p : perm) os.push_back(s[static_cast<size_t>(p)]);
  F in = x.to_float_vector(), out(in.size());
  std::vector<int64_t> idx(s.size(), 0);
  for (size_t o = 0; o < out.size(); ++o) {
    int64_t rem = static_cast<int64_t>(o);
    std::vector<int64_t> oi(os.size());
    for (size_t k = os.size(); k-- > 0;) {
      oi[k] = rem % os[k];
      rem /= os[k];
    }
    for (size_t k = 0; k < perm.size(); ++k) idx[static_cast<size_t>(perm[k])] = oi[k];
    int64_t off = 0;
    for (size_t k = 0; k < s.size(); ++k) off = off * s[k] + idx[k];
    out[o] = in[static_cast<size_t>(off)];
  }
  return out;
}

TEST(Transpose, LargeTiled2DMatchesNaive) {
  Tensor x = iota({67, 45});  // not a multiple of the tile
  Tensor y = run1("Transpose", {{"x", x}});
  EXPECT_EQ(y.shape(), (Shape{45, 67}));
  EXPECT_EQ(y.to_float_vector(), naive_transpose(x, {1, 0}));
  Tensor big = iota({3, 130, 257});  // batched, big enough to be split across threads
  EXPECT_EQ(run1("Transpose", {{"x", big}}, {{"perm", A::of_ints({0, 2, 1})}}).to_float_vector(),
            naive_transpose(big, {0, 2, 1}));
}

TEST(Transpose, HeadsSplit4DAndOddPerms) {
  Tensor x = iota({2, 5, 3, 4});  // [b, s, h, d] -> [b, h, s, d]
  Tensor y = run1("Transpose", {{"x", x}}, {{"perm", A::of_ints({0, 2, 1, 3})}});
  EXPECT_EQ(y.shape(), (Shape{2, 3, 5, 4}));
  EXPECT_EQ(y.to_float_vector(), naive_transpose(x, {0, 2, 1, 3}));
  for (const I& perm : {I{3, 1, 0, 2}, I{1, 3, 2, 0}, I{2, 0, 3, 1}}) {
    EXPECT_EQ(run1("Transpose", {{"x", x}}, {{"perm", A::of_ints(perm)}}).to_float_vector(),
              naive_transpose(x, perm));
  }
}

TEST(Transpose, Int64AndUnitAxesView) {
  Tensor x = i64({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y = run1("Transpose", {{"x", x}}, {{"perm", A::of_ints({1, 0, 2})}});
  EXPECT_EQ(y.shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(run_kernel("Transpose", {x}, {{"perm", A::of_ints({1, 0, 2})}}).raw(), x.raw())
      << "moving only a size-1 axis is a view";
  Tensor z = run1("Transpose", {{"x", x}}, {{"perm", A::of_ints({2, 1, 0})}});
  EXPECT_EQ(z.to_int64_vector(), (I{1, 4, 2, 5, 3, 6}));
}

TEST(Transpose, BadPermIsError) {
  std::string msg = error_of("Transpose", {{"x", iota({2, 3})}}, {{"perm", A::of_ints({0, 0})}});
  EXPECT_NE(msg.find("test_Transpose"), std::string::npos) << msg;
}

// --------------------------------------------------------------------- (Un)Squeeze, Flatten

TEST(Unsqueeze, AxesInputWithNegatives) {
  Tensor y = run1("Unsqueeze", {{"x", iota({3, 4})}, {"a", i64v({-1, 0})}});
  EXPECT_EQ(y.shape(), (Shape{1, 3, 4, 1}));
  EXPECT_EQ(run1("Unsqueeze", {{"x", iota({3})}, {"a", i64v({1})}}).shape(), (Shape{3, 1}));
}

TEST(Unsqueeze, AttributeForm) {
  Tensor y = run1("Unsqueeze", {{"x", iota({3})}}, {{"axes", A::of_ints({0, 2})}}, 11);
  EXPECT_EQ(y.shape(), (Shape{1, 3, 1}));
}

TEST(Squeeze, AxesAndAll) {
  Tensor x = iota({1, 3, 1, 2});
  EXPECT_EQ(run1("Squeeze", {{"x", x}, {"a", i64v({-2})}}).shape(), (Shape{1, 3, 2}));
  EXPECT_EQ(run1("Squeeze", {{"x", x}}).shape(), (Shape{3, 2}));
  EXPECT_EQ(run1("Squeeze", {{"x", x}}, {{"axes", A::of_ints({0})}}, 11).shape(), (Shape{3, 1, 2}));
  std::string msg = error_of("Squeeze", {{"x", x}, {"a", i64v({1})}});
  EXPECT_NE(msg.find("test_Squeeze"), std::string::npos) << msg;
}

TEST(Flatten, Axes) {
  Tensor x = iota({2, 3, 4});
  EXPECT_EQ(run1("Flatten", {{"x", x}}).shape(), (Shape{2, 12}));
  EXPECT_EQ(run1("Flatten", {{"x", x}}, {{"axis", A::of_int(0)}}).shape(), (Shape{1, 24}));
  EXPECT_EQ(run1("Flatten", {{"x", x}}, {{"axis", A::of_int(-1)}}).shape(), (Shape{6, 4}));
  EXPECT_EQ(run1("Flatten", {{"x", x}}, {{"axis", A::of_int(3)}}).shape(), (Shape{24, 1}));
}

TEST(ShapeSizeIdentity, Values) {
  Tensor x = iota({2, 3, 5});
  EXPECT_EQ(run1("Shape", {{"x", x}}).to_int64_vector(), (I{2, 3, 5}));
  EXPECT_EQ(run1("Shape", {{"x", x}}, {{"start", A::of_int(1)}}).to_int64_vector(), (I{3, 5}));
  EXPECT_EQ(run1("Shape", {{"x", x}}, {{"start", A::of_int(-2)}, {"end", A::of_int(-1)}})
                .to_int64_vector(),
            (I{3}));
  EXPECT_EQ(run1("Shape", {{"x", x}}, {{"start", A::of_int(-9)}, {"end", A::of_int(9)}})
                .to_int64_vector(),
            (I{2, 3, 5}));
  EXPECT_EQ(run1("Shape", {{"x", x}}, {{"start", A::of_int(2)}, {"end", A::of_int(1)}}).numel(), 0);
  Tensor s = run1("Size", {{"x", x}});
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.get_as_int64(0), 30);
  EXPECT_EQ(run1("Identity", {{"x", x}}).to_float_vector(), x.to_float_vector());
  EXPECT_EQ(run_kernel("Identity", {x}).raw(), x.raw());
  EXPECT_EQ(run_kernel("Unsqueeze", {x, i64v({0})}).raw(), x.raw());
  EXPECT_EQ(run_kernel("Squeeze", {x.reshaped({1, 30})}).raw(), x.raw());
  EXPECT_EQ(run_kernel("Flatten", {x}).raw(), x.raw());
}

// -------------------------------------------------------------------------------- Concat

TEST(Concat, NegativeAxisAndEmptyInput) {
  Tensor a = f32({2, 1}, {1, 2}), b = f32({2, 2}, {3, 4, 5, 6}), e = f32({2, 0}, {});
  Tensor y = run1("Concat", {{"a", a}, {"e", e}, {"b", b}}, {{"axis", A::of_int(-1)}});
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.to_float_vector(), (F{1, 3, 4, 2, 5, 6}));
  Tensor z = run1("Concat", {{"a", i64({1, 2}, {1, 2})}, {"b", i64({2, 2}, {3, 4, 5, 6})}},
                  {{"axis", A::of_int(0)}});
  EXPECT_EQ(z.to_int64_vector(), (I{1, 2, 3, 4, 5, 6}));
}

TEST(Concat, RankMismatchNamesNode) {
  std::string msg =
      error_of("Concat", {{"a", iota({2, 2})}, {"b", iota({2, 2, 1})}}, {{"axis", A::of_int(0)}});
  EXPECT_NE(msg.find("test_Concat"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank"), std::string::npos) << msg;
  msg = error_of("Concat", {{"a", iota({2, 2})}, {"b", iota({3, 3})}}, {{"axis", A::of_int(0)}});
  EXPECT_NE(msg.find("test_Concat"), std::string::npos) << msg;
}

// --------------------------------------------------------------------------------- Slice

Tensor slice(const Tensor& x, I starts, I ends, I axes = {}, I steps = {}) {
  std::vector<std::pair<std::string, Tensor>> in = {
      {"x", x}, {"s", i64v(starts)}, {"e", i64v(ends)}};
  if (!axes.empty() || !steps.empty()) in.emplace_back(axes.empty() ? "" : "a", i64v(axes));
  if (!steps.empty()) in.emplace_back("st", i64v(steps));
  return run1("Slice", in);
}

TEST(Slice, BasicAndClampedEnds) {
  Tensor x = iota({3, 4});
  Tensor y = slice(x, {1, 1}, {kMax, 3});
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.to_float_vector(), (F{5, 6, 9, 10}));
  EXPECT_EQ(slice(x, {-100}, {100}, {-1}).to_float_vector(), x.to_float_vector());
  EXPECT_EQ(slice(x, {2}, {1}, {0}).shape(), (Shape{0, 4}));
  EXPECT_EQ(slice(x, {-2}, {-1}, {1}).to_float_vector(), (F{2, 6, 10}));
}

TEST(Slice, NegativeSteps) {
  Tensor x = iota({7});
  EXPECT_EQ(slice(x, {-1}, {kMin}, {0}, {-1}).to_float_vector(), (F{6, 5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(slice(x, {kMax}, {kMin}, {0}, {-3}).to_float_vector(), (F{6, 3, 0}));
  EXPECT_EQ(slice(x, {5}, {1}, {0}, {-2}).to_float_vector(), (F{5, 3}));
  EXPECT_EQ(slice(x, {5}, {-100}, {0}, {-2}).to_float_vector(), (F{5, 3, 1}));
  EXPECT_EQ(slice(x, {1}, {5}, {0}, {-1}).numel(), 0);
  Tensor m = iota({3, 4});
  Tensor y = slice(m, {kMax, 0}, {kMin, kMax}, {0, 1}, {-1, 2});
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(y.to_float_vector(), (F{8, 10, 4, 6, 0, 2}));
}

TEST(Slice, PositiveStepsOddShape) {
  Tensor x = iota({2, 3, 5});
  Tensor y = slice(x, {0, 1}, {5, 3}, {2, 1}, {3, 1});
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_float_vector(), (F{5, 8, 10, 13, 20, 23, 25, 28}));
}

TEST(Slice, LargeReversedRowsSplitAcrossThreads) {
  Tensor x = iota({300, 260});
  Tensor y = slice(x, {-2, kMax}, {kMin, kMin}, {0, 1}, {-3, -1});
  EXPECT_EQ(y.shape(), (Shape{100, 260}));
  F want;
  for (int64_t r = 298; r >= 0; r -= 3) {
    for (int64_t c = 259; c >= 0; --c) want.push_back(static_cast<float>(r * 260 + c));
  }
  EXPECT_EQ(y.to_float_vector(), want);
}

TEST(Slice, AttributeFormOpset9) {
  Tensor y = run1(
      "Slice", {{"x", iota({3, 4})}},
      {{"starts", A::of_ints({1})}, {"ends", A::of_ints({kMax})}, {"axes", A::of_ints({1})}}, 9);
  EXPECT_EQ(y.shape(), (Shape{3, 3}));
  EXPECT_EQ(y.to_float_vector(), (F{1, 2, 3, 5, 6, 7, 9, 10, 11}));
}

TEST(Slice, BadInputsAreErrors) {
  Tensor x = iota({4});
  std::string msg = error_of(
      "Slice", {{"x", x}, {"s", i64v({0})}, {"e", i64v({2})}, {"a", i64v({0})}, {"st", i64v({0})}});
  EXPECT_NE(msg.find("test_Slice"), std::string::npos) << msg;
  msg = error_of("Slice", {{"x", x}, {"s", i64v({0})}, {"e", i64v({2})}, {"a", i64v({1})}});
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
}

// --------------------------------------------------------------------------------- Split

TEST(Split, SplitInputAndEqual) {
  Tensor x = iota({2, 5});
  auto outs = run_single_op("Split", {{"x", x}, {"s", i64v({2, 3})}}, {{"axis", A::of_int(-1)}}, 2);
  EXPECT_EQ(outs[0].to_float_vector(), (F{0, 1, 5, 6}));
  EXPECT_EQ(outs[1].to_float_vector(), (F{2, 3, 4, 7, 8, 9}));
  Tensor z = iota({6, 1});
  outs = run_single_op("Split", {{"x", z}}, {}, 3);
  EXPECT_EQ(outs[2].to_float_vector(), (F{4, 5}));
}

TEST(Split, NumOutputsUnevenOpset18) {
  auto outs = run_single_op("Split", {{"x", iota({7})}}, {{"num_outputs", A::of_int(3)}}, 3, 18);
  EXPECT_EQ(outs[0].to_float_vector(), (F{0, 1, 2}));
  EXPECT_EQ(outs[1].to_float_vector(), (F{3, 4, 5}));
  EXPECT_EQ(outs[2].to_float_vector(), (F{6}));
}

TEST(Split, AttributeFormAndMismatch) {
  auto outs = run_single_op("Split", {{"x", iota({5})}}, {{"split", A::of_ints({1, 4})}}, 2, 11);
  EXPECT_EQ(outs[1].to_float_vector(), (F{1, 2, 3, 4}));
  EXPECT_THROW(run_single_op("Split", {{"x", iota({5})}, {"s", i64v({1, 1})}}, {}, 2), Error);
}

// -------------------------------------------------------------------------------- Gather

TEST(Gather, NegativeIndicesAnyRank) {
  Tensor x = iota({3, 2});
  Tensor y = run1("Gather", {{"x", x}, {"i", i64({2, 2}, {-1, 0, 1, -3})}});
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_float_vector(), (F{4, 5, 0, 1, 2, 3, 0, 1}));
  Tensor s = run1("Gather", {{"x", x}, {"i", Tensor::scalar_i64(-1)}}, {{"axis", A::of_int(1)}});
  EXPECT_EQ(s.shape(), (Shape{3}));
  EXPECT_EQ(s.to_float_vector(), (F{1, 3, 5}));
}

TEST(Gather, Int32IndicesInt64Data) {
  Tensor x = i64({2, 3}, {10, 11, 12, 20, 21, 22});
  Tensor idx = Tensor::from_vector<int32_t>({2}, {2, -3});
  Tensor y = run1("Gather", {{"x", x}, {"i", idx}}, {{"axis", A::of_int(-1)}});
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.to_int64_vector(), (I{12, 10, 22, 20}));
}

TEST(Gather, LargeEmbeddingLookupAndConcat) {
  Tensor table = iota({1000, 70});
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 500; ++i) ids.push_back((i * 37) % 1000 - (i % 2 ? 1000 : 0));
  Tensor y = run1("Gather", {{"t", table}, {"i", i64({1, 500}, ids)}});
  EXPECT_EQ(y.shape(), (Shape{1, 500, 70}));
  F got = y.to_float_vector();
  for (int64_t i = 0; i < 500; ++i) {
    const int64_t row = (ids[static_cast<size_t>(i)] + 1000) % 1000;
    ASSERT_EQ(got[static_cast<size_t>(i * 70 + 69)], static_cast<float>(row * 70 + 69)) << i;
  }
  Tensor c = run1("Concat", {{"a", y}, {"b", y}}, {{"axis", A::of_int(1)}});
  EXPECT_EQ(c.shape(), (Shape{1, 1000, 70}));
  F cv = c.to_float_vector();
  EXPECT_EQ(F(cv.begin() + 35000, cv.end()), got);
}

TEST(Gather, OutOfRangeIndexIsError) {
  std::string msg = error_of("Gather", {{"x", iota({3})}, {"i", i64v({3})}});
  EXPECT_NE(msg.find("test_Gather"), std::string::npos) << msg;
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
}

TEST(GatherElements, Axis1AndNegative) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  Tensor y = run1("GatherElements", {{"x", x}, {"i", i64({2, 2}, {0, 0, 1, 0})}},
                  {{"axis", A::of_int(1)}});
  EXPECT_EQ(y.to_float_vector(), (F{1, 1, 4, 3}));
  Tensor x3 = iota({3, 3});
  Tensor z = run1("GatherElements", {{"x", x3}, {"i", i64({2, 3}, {1, 2, 0, -1, 0, 0})}});
  EXPECT_EQ(z.to_float_vector(), (F{3, 7, 2, 6, 1, 2}));
}

// -------------------------------------------------------------------- Tile, ScatterND, Trilu

TEST(Tile, RepeatsPerAxis) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  Tensor y = run1("Tile", {{"x", x}, {"r", i64v({2, 3})}});
  EXPECT_EQ(y.shape(), (Shape{4, 6}));
  EXPECT_EQ(y.to_float_vector(),
            (F{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
  EXPECT_EQ(run1("Tile", {{"x", x}, {"r", i64v({1, 0})}}).shape(), (Shape{2, 0}));
}

TEST(ScatterND, RowsAndElements) {
  Tensor x = iota({3, 2});
  Tensor y = run1("ScatterND", {{"x", x}, {"i", i64({1, 1}, {-1})}, {"u", f32({1, 2}, {9, 8})}});
  EXPECT_EQ(y.to_float_vector(), (F{0, 1, 2, 3, 9, 8}));
  Tensor z =
      run1("ScatterND", {{"x", x}, {"i", i64({2, 2}, {0, 1, 2, 0})}, {"u", f32({2}, {7, 6})}});
  EXPECT_EQ(z.to_float_vector(), (F{0, 7, 2, 3, 6, 5}));
  EXPECT_EQ(x.to_float_vector(), (F{0, 1, 2, 3, 4, 5})) << "input must not be modified";
}

TEST(Trilu, UpperLowerWithK) {
  Tensor x = f32({3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  EXPECT_EQ(run1("Trilu", {{"x", x}}).to_float_vector(), (F{1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12}));
  EXPECT_EQ(run1("Trilu", {{"x", x}, {"k", Tensor::scalar_i64(1)}}, {{"upper", A::of_int(0)}})
                .to_float_vector(),
            (F{1, 2, 0, 0, 5, 6, 7, 0, 9, 10, 11, 12}));
  EXPECT_EQ(run1("Trilu", {{"x", x}, {"k", Tensor::scalar_i64(-1)}}).to_float_vector(),
            (F{1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 11, 12}));
  EXPECT_EQ(run1("Trilu", {{"x", x}, {"k", Tensor::scalar_i64(kMin)}}, {{"upper", A::of_int(0)}})
                .to_float_vector(),
            F(12, 0.0f));
}

TEST(Trilu, BatchedCausalMask) {
  Tensor x = f32({2, 2, 2}, {1, 1, 1, 1, 2, 2, 2, 2});
  EXPECT_EQ(run1("Trilu", {{"x", x}}, {{"upper", A::of_int(0)}}).to_float_vector(),
            (F{1, 0, 1, 1, 2, 0, 2, 2}));
}

// ----------------------------------------------------------------------------------- Pad

TEST(Pad, ConstantWithValueAndAxes) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  Tensor y = run1("Pad", {{"x", x}, {"p", i64v({1, 0, 0, 1})}, {"v", Tensor::scalar_f32(9)}});
  EXPECT_EQ(y.shape(), (Shape{3, 3}));
  EXPECT_EQ(y.to_float_vector(), (F{9, 9, 9, 1, 2, 9, 3, 4, 9}));
  Tensor z = run_single_op(
      "Pad", {{"x", x}, {"p", i64v({2, -1})}, {"", Tensor()}, {"a", i64v({-1})}}, {}, 1, 18)[0];
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.to_float_vector(), (F{0, 0, 1, 0, 0, 3}));
}

TEST(Pad, ReflectAndEdge) {
  Tensor x = f32({1, 3}, {1, 2, 3});
  EXPECT_EQ(run1("Pad", {{"x", x}, {"p", i64v({0, 2, 0, 2})}}, {{"mode", A::of_string("reflect")}})
                .to_float_vector(),
            (F{3, 2, 1, 2, 3, 2, 1}));
  EXPECT_EQ(run1("Pad", {{"x", x}, {"p", i64v({1, 1, 0, 1})}}, {{"mode", A::of_string("edge")}})
                .to_float_vector(),
            (F{1, 1, 2, 3, 3, 1, 1, 2, 3, 3}));
}

TEST(Pad, AttributeFormOpset2) {
  Tensor y = run1("Pad", {{"x", f32({2}, {1, 2})}},
                  {{"pads", A::of_ints({1, 2})}, {"value", A::of_float(-1)}}, 2);
  EXPECT_EQ(y.to_float_vector(), (F{-1, 1, 2, -1, -1}));
}

// ---------------------------------------------------------------------------- Generators

TEST(Constant, AllValueForms) {
  Tensor t = f32({2}, {1.5f, -2});
  EXPECT_EQ(run1("Constant", {}, {{"value", A::of_tensor(t)}}).to_float_vector(), (F{1.5f, -2}));
  Tensor f = run1("Constant", {}, {{"value_float", A::of_float(0.25f)}});
  EXPECT_EQ(f.rank(), 0);
  EXPECT_EQ(f.to_float_vector(), (F{0.25f}));
  EXPECT_EQ(run1("Constant", {}, {{"value_floats", A::of_floats({1, 2})}}).to_float_vector(),
            (F{1, 2}));
  Tensor i = run1("Constant", {}, {{"value_int", A::of_int(7)}});
  EXPECT_EQ(i.dtype(), DType::kInt64);
  EXPECT_EQ(i.to_int64_vector(), (I{7}));
  EXPECT_EQ(run1("Constant", {}, {{"value_ints", A::of_ints({3, 4})}}).to_int64_vector(),
            (I{3, 4}));
  EXPECT_THROW(run1("Constant", {}, {}), Error);
}

TEST(ConstantOfShape, DefaultAndTypedValue) {
  Tensor y = run1("ConstantOfShape", {{"s", i64v({2, 3})}});
  EXPECT_EQ(y.dtype(), DType::kFloat32);
  EXPECT_EQ(y.to_float_vector(), F(6, 0.0f));
  Tensor z = run1("ConstantOfShape", {{"s", i64v({3})}}, {{"value", A::of_tensor(i64({1}, {-4}))}});
  EXPECT_EQ(z.to_int64_vector(), (I{-4, -4, -4}));
  Tensor s =
      run1("ConstantOfShape", {{"s", i64({0}, {})}}, {{"value", A::of_tensor(f32({1}, {2}))}});
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.to_float_vector(), (F{2}));
}

TEST(Range, FloatIntAndNegativeDelta) {
  Tensor f = run1("Range", {{"s", Tensor::scalar_f32(1)},
                            {"l", Tensor::scalar_f32(2)},
                            {"d", Tensor::scalar_f32(0.25f)}});
  EXPECT_EQ(f.to_float_vector(), (F{1, 1.25f, 1.5f, 1.75f}));
  Tensor i = run1(
      "Range",
      {{"s", Tensor::scalar_i64(10)}, {"l", Tensor::scalar_i64(3)}, {"d", Tensor::scalar_i64(-3)}});
  EXPECT_EQ(i.to_int64_vector(), (I{10, 7, 4}));
  Tensor e = run1(
      "Range",
      {{"s", Tensor::scalar_i64(3)}, {"l", Tensor::scalar_i64(1)}, {"d", Tensor::scalar_i64(1)}});
  EXPECT_EQ(e.shape(), (Shape{0}));
  Tensor i32 = run1("Range", {{"s", Tensor::from_vector<int32_t>({}, {0})},
                              {"l", Tensor::from_vector<int32_t>({}, {5})},
                              {"d", Tensor::from_vector<int32_t>({}, {2})}});
  EXPECT_EQ(i32.to_int64_vector(), (I{0, 2, 4}));
  EXPECT_THROW(run1("Range", {{"s", Tensor::scalar_i64(0)},
                              {"l", Tensor::scalar_i64(1)},
                              {"d", Tensor::scalar_i64(0)}}),
               Error);
}

TEST(EyeLike, OffsetDiagonal) {
  Tensor y = run1("EyeLike", {{"x", iota({3, 4})}}, {{"k", A::of_int(1)}});
  EXPECT_EQ(y.to_float_vector(), (F{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  Tensor z =
      run1("EyeLike", {{"x", iota({3, 2})}}, {{"k", A::of_int(-1)}, {"dtype", A::of_int(7)}});
  EXPECT_EQ(z.dtype(), DType::kInt64);
  EXPECT_EQ(z.to_int64_vector(), (I{0, 0, 1, 0, 0, 1}));
}

}  // namespace
}  // namespace sq::test
