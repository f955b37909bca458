// Why this exists: one enumeration of the element types the runtime stores, with their sizes,
// names and the mapping to and from ONNX's TensorProto data types, shared by I/O and ops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sq {

enum class DType : uint8_t { kFloat32, kFloat16, kFloat64, kInt64, kInt32, kInt8, kUInt8, kBool };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
// ONNX TensorProto::DataType <-> DType. from_onnx throws sq::Error for unsupported types.
int dtype_to_onnx(DType t);
DType dtype_from_onnx(int onnx_type, const std::string& what);
bool dtype_is_float(DType t);

// Compile-time mapping from C++ element type to DType (uint16_t stands for float16 storage).
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::kFloat16; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kFloat64; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::kInt8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kUInt8; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };

// IEEE half <-> float, round-to-nearest-even.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);

}  // namespace sq
