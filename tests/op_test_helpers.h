// Why this exists: shorthand shared by the op test suites (building small tensors, running one
// op, comparing values with a tolerance, expecting a one-line sq::Error), so each test reads as
// inputs, op, expected values.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace sq::test {

inline Tensor f32(Shape shape, const std::vector<float>& v) {
  return Tensor::from_vector<float>(std::move(shape), v);
}
inline Tensor f64(Shape shape, const std::vector<double>& v) {
  return Tensor::from_vector<double>(std::move(shape), v);
}
inline Tensor i64(Shape shape, const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>(std::move(shape), v);
}
inline Tensor i32(Shape shape, const std::vector<int32_t>& v) {
  return Tensor::from_vector<int32_t>(std::move(shape), v);
}
inline Tensor boolean(Shape shape, const std::vector<bool>& v) {
  return Tensor::from_vector<bool>(std::move(shape), v);
}

// Runs a one-output op whose inputs are named x0, x1, ... ("" entries in `omitted` positions
// are left out by passing an empty name).
inline Tensor run1(const std::string& op, const std::vector<Tensor>& inputs,
                   const std::map<std::string, Attribute>& attrs = {}, int64_t opset = 17,
                   const std::vector<size_t>& omitted = {}) {
  std::vector<std::pair<std::string, Tensor>> named;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool skip = std::find(omitted.begin(), omitted.end(), i) != omitted.end();
    std::string name;  // not "x" + std::to_string(i): that trips GCC 12's -Wrestrict
    if (!skip) name = std::string("x").append(std::to_string(i));
    named.emplace_back(name, inputs[i]);
  }
  return run_single_op(op, named, attrs, 1, opset)[0];
}

// Checks shape, dtype and every value (as double) within abs + rel * |want|; NaN matches NaN.
inline void expect_values(const Tensor& t, DType dtype, const Shape& shape,
                          const std::vector<double>& want, double rel = 1e-6, double abs = 1e-6) {
  ASSERT_EQ(dtype_name(t.dtype()), std::string(dtype_name(dtype)));
  ASSERT_EQ(shape_str(t.shape()), shape_str(shape));
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    const double got = t.get_as_double(static_cast<int64_t>(i));
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got)) << "element " << i << ": got " << got << ", want NaN";
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got, want[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got, want[i], abs + rel * std::fabs(want[i])) << "element " << i;
    }
  }
}
inline void expect_f32(const Tensor& t, const Shape& shape, const std::vector<double>& want,
                       double rel = 1e-6, double abs = 1e-6) {
  expect_values(t, DType::kFloat32, shape, want, rel, abs);
}

// Expects fn to throw sq::Error whose single-line message contains every part.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected sq::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << p << " not in: " << msg;
  }
}

}  // namespace sq::test
