// LookupU8 (domain com.softquant), made by engine/int8_lookup_lowering:
//   inputs  x (uint8) [, y (uint8), broadcast against x]
//   attrs   table: uint8 [256] (one input: out = table[x]) or [65536] (two: table[x * 256 + y])
//   output  uint8, the broadcast shape
#include <memory>

#include "runtime/ops/broadcast.h"
#include "runtime/ops/op.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {
namespace {

class LookupU8Kernel : public OpKernel {
 public:
  explicit LookupU8Kernel(const Node& node) : table_(node.attr_tensor("table")) {
    check_num_inputs(node, 1, 2);
    const int64_t want = node.num_inputs() == 1 ? 256 : 65536;
    SQ_CHECK(table_.dtype() == DType::kUInt8 && table_.numel() == want, node.describe(),
             ": table must hold ", want, " uint8 values");
  }

  void run(OpContext& ctx) const override {
    const Node& node = ctx.node();
    const uint8_t* table = table_.data<uint8_t>();
    const Tensor& x = ctx.in(0);
    SQ_CHECK(x.dtype() == DType::kUInt8, node.describe(), ": input must be uint8");
    if (ctx.num_inputs() < 2 || ctx.input(1) == nullptr) {
      Tensor out(DType::kUInt8, x.shape());
      const uint8_t* in = x.data<uint8_t>();
      uint8_t* o = out.data<uint8_t>();
      ctx.pool().parallel_for(x.numel(), 1 << 16, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) o[i] = table[in[i]];
      });
      return ctx.set_output(0, std::move(out));
    }
    const Tensor& y = ctx.in(1);
    SQ_CHECK(y.dtype() == DType::kUInt8, node.describe(), ": inputs must be uint8");
    const BroadcastPlan plan = make_broadcast_plan({x.shape(), y.shape()}, node.describe());
    Tensor out(DType::kUInt8, plan.out_shape);
    broadcast_binary(plan, x.data<uint8_t>(), y.data<uint8_t>(), out.data<uint8_t>(), ctx.pool(),
                     [table](uint8_t a, uint8_t b) { return table[a * 256 + b]; });
    ctx.set_output(0, std::move(out));
  }

 private:
  Tensor table_;
};

}  // namespace

void register_int8_lookup_op(OpRegistry& r) {
  r.add("LookupU8",
        [](const Node& node, int64_t) { return std::make_unique<LookupU8Kernel>(node); },
        kInt8Domain);
}

}  // namespace sq
