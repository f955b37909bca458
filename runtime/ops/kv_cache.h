// Why this exists: a decoding session's int8 key/value cache. In a graph prepared for cached
// decoding (engine/decode_graph.h) each fused attention op (AttentionU8) appends the step's new
// key and value rows here, still in the uint8 grid the quantizer gave them, and attends over all
// rows cached so far. Buffers are sized once for `capacity` tokens on first use, so the cache
// never reallocates while it grows. One cache belongs to one sequence being decoded; it is not
// shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sq {

class KvCache {
 public:
  // capacity: the most tokens (prompt plus generated) one layer will hold.
  explicit KvCache(int64_t capacity);

  struct Layer {
    int64_t matrices = 0;  // (batch, head) pairs
    int64_t d = 0, dv = 0;  // key and value row lengths
    float k_scale = 0, v_scale = 0;
    int32_t k_zero = 0, v_zero = 0;
    int64_t length = 0;  // rows cached per matrix
    std::unique_ptr<uint8_t[]> k;  // [matrices][capacity][d]
    std::unique_ptr<uint8_t[]> v;  // [matrices][capacity][dv]
  };

  // The layer of attention op `slot`, allocated on first use with these dimensions and
  // quantization parameters; throws sq::Error (naming `who`) if a later step's differ.
  Layer& layer(int slot, int64_t matrices, int64_t d, int64_t dv, float k_scale, int32_t k_zero,
               float v_scale, int32_t v_zero, const std::string& who);

  int64_t capacity() const { return capacity_; }
  // Rows cached in every layer (0 before the first step); throws if the layers disagree.
  int64_t length() const;
  // Forgets every cached row, keeping the buffers (a new sequence of the same model).
  void clear();
  // Bytes allocated for all layers.
  size_t bytes() const;

 private:
  int64_t capacity_;
  std::vector<std::unique_ptr<Layer>> layers_;  // by slot; null until first use
};

}  // namespace sq
