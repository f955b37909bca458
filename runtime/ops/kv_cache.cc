#include "runtime/ops/kv_cache.h"

#include "runtime/core/error.h"

namespace sq {

KvCache::KvCache(int64_t capacity) : capacity_(capacity) {
  SQ_CHECK(capacity > 0, "KV cache: capacity must be positive, got ", capacity);
}

KvCache::Layer& KvCache::layer(int slot, int64_t matrices, int64_t d, int64_t dv, float k_scale,
                               int32_t k_zero, float v_scale, int32_t v_zero,
                               const std::string& who) {
  SQ_CHECK(slot >= 0 && slot < 1 << 20, who, ": KV cache slot ", slot, " out of range");
  if (layers_.size() <= static_cast<size_t>(slot)) layers_.resize(static_cast<size_t>(slot) + 1);
  std::unique_ptr<Layer>& l = layers_[static_cast<size_t>(slot)];
  if (!l) {
    SQ_CHECK(matrices > 0 && d > 0 && dv > 0, who, ": KV cache needs non-empty keys and values");
    const int64_t k_bytes = matrices * capacity_ * d, v_bytes = matrices * capacity_ * dv;
    SQ_CHECK(k_bytes / capacity_ / matrices == d && v_bytes / capacity_ / matrices == dv, who,
             ": KV cache size overflows");
    l = std::make_unique<Layer>();
    l->matrices = matrices;
    l->d = d;
    l->dv = dv;
    l->k_scale = k_scale;
    l->v_scale = v_scale;
    l->k_zero = k_zero;
    l->v_zero = v_zero;
    // Not value-initialized: pages are touched only as rows are written.
    l->k.reset(new uint8_t[static_cast<size_t>(k_bytes)]);
    l->v.reset(new uint8_t[static_cast<size_t>(v_bytes)]);
  }
  SQ_CHECK(l->matrices == matrices && l->d == d && l->dv == dv, who, ": KV cache holds ",
           l->matrices, " matrices of keys [", l->d, "] / values [", l->dv, "], this step has ",
           matrices, " of [", d, "] / [", dv, "]");
  SQ_CHECK(l->k_scale == k_scale && l->k_zero == k_zero && l->v_scale == v_scale &&
               l->v_zero == v_zero,
           who, ": the key/value quantization parameters changed between steps");
  return *l;
}

int64_t KvCache::length() const {
  int64_t len = -1;
  for (const auto& l : layers_) {
    if (!l) continue;
    SQ_CHECK(len < 0 || len == l->length, "KV cache: layers hold different numbers of rows (",
             len, " and ", l->length, ")");
    len = l->length;
  }
  return len < 0 ? 0 : len;
}

void KvCache::clear() {
  for (auto& l : layers_)
    if (l) l->length = 0;
}

size_t KvCache::bytes() const {
  size_t n = 0;
  for (const auto& l : layers_)
    if (l) n += static_cast<size_t>(l->matrices * capacity_ * (l->d + l->dv));
  return n;
}

}  // namespace sq
