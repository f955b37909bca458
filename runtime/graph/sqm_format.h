// Why this exists: devices should not parse ONNX or carry protobuf. A compiled model (.sqm) is
// one self-contained, versioned, checksummed binary file holding the int8-lowered graph
// (engine/int8_lowering.h), laid out so a loader maps it and uses the tensor data in place.
//
// Layout, version 3 (all integers little-endian; offsets are from the start of the file):
//
//   header, 64 bytes
//     0  magic "SQMODEL\0"                        8 bytes
//     8  u32 version (3; 1 and 2 are read too)    12  u32 flags (0; any other bit is refused)
//    16  u64 file size (must equal the real size: catches truncation first)
//    24  u64 checksum: FNV-1a 64 over the whole file, these 8 bytes counted as zero
//    32  u32 header size (64)                     36  u32 section count (3; 2 in versions 1, 2)
//    40  u64 section table offset (64)            48  16 reserved bytes, zero
//   section table: per section u32 kind, u32 reserved (0), u64 offset, u64 size; the entries in
//   kind order
//     kind 1 META: the graph, right after the table
//     kind 2 DATA: tensor bytes, starting 64-byte aligned
//     kind 3 PLAN (version 3): memory plans, right after META and before DATA
//   META: a byte stream; string = u32 length + bytes; every count is a u32
//     i64 ir_version, string producer_name, string producer_version,
//     opsets (string domain, i64 version)*, metadata (string key, string value)*,
//     string graph name,
//     tensors (u8 dtype, u32 rank, i64 dims[rank], u64 offset, u64 nbytes)*,
//     inputs, outputs, value_info: each (string name, u8 dtype, u8 has_type, u8 has_shape,
//       u32 rank, (i64 value or -1, string symbolic name)[rank])*,
//     initializers (string name, u32 tensor index)*,
//     nodes (string name, string op_type, string domain, inputs (string)*, outputs (string)*,
//       attributes (string key, u8 kind, payload)*)*
//     dtype codes are ONNX TensorProto's (1 float32, 2 uint8, 3 int8, 6 int32, 7 int64, 9 bool,
//     10 float16, 11 float64); attribute kinds: 1 float (f32), 2 int (i64), 3 string,
//     4 tensor (u32 tensor index), 5 floats (u32 n, f32[n]), 6 ints (u32 n, i64[n]),
//     7 strings (u32 n, string[n]).
//   DATA: each tensor's bytes at a 64-byte aligned offset, zero padding between them.
//   PLAN: u32 plan count, then per plan (planner/memory_plan.h)
//     inputs (u8 dtype, u32 rank, i64 dims[rank])*  one per graph input, in graph input order
//     u64 arena bytes,
//     buffers (u64 size, u64 offset, i32 first step, i32 last step, i32 output number or -1)*
//
// Memory plans. `softquant compile` runs the compiled model once on zero-filled inputs of fixed
// shapes (the inputs' static shapes, or `--plan-shape`) with a session arena
// (planner/execution_arena.h) and stores the plan it made: which tensor of a run goes where in
// one arena buffer. A session made from the file seeds its arena with the stored plans, so its
// first run with those input shapes replays the plan instead of recording one, and the arena is
// allocated when the session is made. Other shapes record as before. Replay checks itself, so a
// plan that does not match how this runtime runs the graph (another ISA, another build) costs a
// recording run, never a wrong result. Version 3 is the first with a PLAN section: a version-2
// runtime refuses these files (with its message to recompile) instead of misreading the table.
//
// Weights. `softquant compile` stores each integer GEMM's weight prepacked for one target ISA
// (default: the compiling host's; `--isa` picks another, e.g. neondot for a board): the
// MatMulU8S8ToFloat node's attributes packed_weight (the ISA's GEMM layout, a DATA tensor like any
// other, so 64-byte aligned), packed_col_sums, packed_isa, packed_k and packed_n
// (ops/int8_packed_weight.h), next to its weight_scale. At load, a weight packed for the running
// ISA is used in place from the mapping (no copy, no packing work; resident memory is the pages
// the model touches); one packed for another ISA is repacked from the stored layout (correct,
// slower). Version 2 is the first whose nodes may hold packed weights, so a version-1 runtime
// refuses these files instead of failing on a node it does not understand; version-1 files
// (weights as unpacked int8 attributes, packed at load) still load. A version above 3 is refused
// with a message to recompile the model. Tensors that share one buffer are stored once: an
// embedding tied to the LM head is the head's packed weight, which GatherDequantize reads by
// column (see ops/int8_ops.cc).
//
// The checksum pass reads the whole file; the pages it touched are released right after, so a
// mapped model's resident set grows only with the pages running it reads.
//
// Loading validates everything before use: size, magic, version, flags, checksum, then every
// count, string length, offset, alignment, dtype code and shape against the bytes actually
// there, and every memory plan (memory_plan_error: buffers inside the arena, lifetimes, output
// numbers, no two live buffers sharing bytes; one input per graph input, of its dtype and rank;
// steps within the graph's nodes). A corrupted or truncated file is refused with one sq::Error
// line; nothing is allocated from a size the file claims until that size has been checked
// against the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/graph/ir.h"

namespace sq {

inline constexpr uint32_t kSqmVersion = 3;        // written
inline constexpr uint32_t kSqmOldestVersion = 1;  // oldest still read
inline constexpr size_t kSqmHeaderSize = 64;

struct SqmWriteStats {
  size_t file_bytes = 0, tensors = 0, tensor_bytes = 0, nodes = 0, memory_plans = 0;
};

struct SqmWriteOptions {
  // 3, or 2 for a runtime that predates memory plans (the model's memory_plans are then left
  // out). Tests use 2 to make the files older runtimes wrote.
  uint32_t version = kSqmVersion;
};

// Writes `model` (with its memory_plans) atomically (temporary name, then rename). Throws
// sq::Error for an unwritable path, a tensor without data or an invalid memory plan.
SqmWriteStats save_sqm(const Model& model, const std::string& path,
                       const SqmWriteOptions& options = {});

// Maps the file; the returned model's tensors alias the mapping (which lives as long as they do).
// Throws sq::Error "<path>: ..." naming what is wrong for a file that is not a valid .sqm.
Model load_sqm(const std::string& path);
// The same from bytes in memory kept alive by `owner`; `what` names them in errors. Tensors alias
// the bytes when `data` is 64-byte aligned, else they are copied.
Model load_sqm_from_memory(std::shared_ptr<void> owner, const uint8_t* data, size_t size,
                           const std::string& what);

// True if the file starts with the .sqm magic (false if it cannot be read).
bool is_sqm_file(const std::string& path);

// FNV-1a 64 of a whole .sqm image with its checksum field counted as zero (what the header
// stores). For tools and tests that build or tamper with images.
uint64_t sqm_checksum(const uint8_t* data, size_t size);

}  // namespace sq
