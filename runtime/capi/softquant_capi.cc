// The C API (softquant.h) over the int8 engine: every entry point catches everything, so no C++
// exception crosses into C; failures become an sq_status plus a thread-local message.
#include "runtime/capi/softquant.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "runtime/core/thread_pool.h"
#include "runtime/engine/binding.h"
#include "runtime/engine/int8_engine.h"
#include "runtime/graph/sqm_format.h"
#include "runtime/io/mapped_file.h"
#include "runtime/planner/execution_arena.h"

struct sq_model {
  std::shared_ptr<const sq::ReferenceEngine> engine;  // owns the model (and so the mapping)
};

struct sq_session {
  std::shared_ptr<const sq::ReferenceEngine> engine;
  std::unique_ptr<sq::ThreadPool> pool;
  // The session's memory: repeated runs with the same input shapes allocate no tensor data
  // (outputs are released before each run, so their buffers are reused too).
  sq::ExecutionArena arena;
  sq::TensorMap inputs, outputs;
};

namespace {

thread_local std::string g_last_error;

sq_status fail(sq_status s, const std::string& message) {
  g_last_error = message;
  return s;
}

// Runs f, mapping exceptions to `on_error` (sq::Error), out of memory, or anything else.
template <typename F>
sq_status guarded(sq_status on_error, F&& f) {
  try {
    g_last_error.clear();
    return f();
  } catch (const sq::Error& e) {
    return fail(on_error, e.what());
  } catch (const std::bad_alloc&) {
    return fail(SQ_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(SQ_ERROR_RUNTIME, e.what());
  } catch (...) {
    return fail(SQ_ERROR_RUNTIME, "unknown error");
  }
}

bool to_dtype(sq_dtype d, sq::DType* out) {
  switch (d) {
    case SQ_DTYPE_FLOAT32: *out = sq::DType::kFloat32; return true;
    case SQ_DTYPE_UINT8: *out = sq::DType::kUInt8; return true;
    case SQ_DTYPE_INT8: *out = sq::DType::kInt8; return true;
    case SQ_DTYPE_INT32: *out = sq::DType::kInt32; return true;
    case SQ_DTYPE_INT64: *out = sq::DType::kInt64; return true;
    case SQ_DTYPE_BOOL: *out = sq::DType::kBool; return true;
    case SQ_DTYPE_FLOAT16: *out = sq::DType::kFloat16; return true;
    case SQ_DTYPE_FLOAT64: *out = sq::DType::kFloat64; return true;
  }
  return false;
}

}  // namespace

extern "C" {

const char* sq_last_error_message(void) { return g_last_error.c_str(); }

sq_status sq_model_load(const char* path, sq_model** model) {
  if (!path || !model) return fail(SQ_ERROR_INVALID_ARGUMENT, "sq_model_load: null argument");
  *model = nullptr;
  sq::MappedFile file;
  sq_status s = guarded(SQ_ERROR_IO, [&] {
    file = sq::map_file(path);
    return SQ_OK;
  });
  if (s != SQ_OK) return s;
  auto lowered = std::make_shared<sq::Model>();
  s = guarded(SQ_ERROR_FORMAT, [&] {
    *lowered = sq::load_sqm_from_memory(file.owner, file.data, file.size, path);
    return SQ_OK;
  });
  file = {};  // the model's tensors hold the mapping from here on
  if (s != SQ_OK) return s;
  return guarded(SQ_ERROR_RUNTIME, [&] {
    auto m = std::make_unique<sq_model>();
    m->engine = sq::make_int8_engine_from_lowered(std::move(lowered));
    *model = m.release();
    return SQ_OK;
  });
}

void sq_model_free(sq_model* model) { delete model; }

size_t sq_model_input_count(const sq_model* model) {
  return model ? model->engine->model().graph.inputs.size() : 0;
}
size_t sq_model_output_count(const sq_model* model) {
  return model ? model->engine->model().graph.outputs.size() : 0;
}
const char* sq_model_input_name(const sq_model* model, size_t index) {
  if (!model || index >= sq_model_input_count(model)) return nullptr;
  return model->engine->model().graph.inputs[index].name.c_str();
}
const char* sq_model_output_name(const sq_model* model, size_t index) {
  if (!model || index >= sq_model_output_count(model)) return nullptr;
  return model->engine->model().graph.outputs[index].name.c_str();
}

sq_status sq_session_create(sq_model* model, int threads, sq_session** session) {
  if (!model || !session) return fail(SQ_ERROR_INVALID_ARGUMENT, "sq_session_create: null argument");
  *session = nullptr;
  if (threads < 1 || threads > 1024) {
    return fail(SQ_ERROR_INVALID_ARGUMENT,
                "sq_session_create: threads must be 1..1024, got " + std::to_string(threads));
  }
  return guarded(SQ_ERROR_RUNTIME, [&] {
    auto s = std::make_unique<sq_session>();
    s->engine = model->engine;
    s->pool = std::make_unique<sq::ThreadPool>(threads);
    // A compiled model's stored plans: the arena is allocated now, and the first run with their
    // input shapes replays instead of recording.
    s->arena.seed(model->engine->model().memory_plans);
    *session = s.release();
    return SQ_OK;
  });
}

void sq_session_free(sq_session* session) { delete session; }

sq_status sq_session_set_input(sq_session* session, const char* name, sq_dtype dtype,
                               const int64_t* dims, size_t ndims, const void* data) {
  if (!session || !name || (ndims && !dims)) {
    return fail(SQ_ERROR_INVALID_ARGUMENT, "sq_session_set_input: null argument");
  }
  return guarded(SQ_ERROR_INVALID_ARGUMENT, [&] {
    const sq::Graph& g = session->engine->model().graph;
    bool known = false;
    for (const auto& vi : g.inputs) known |= vi.name == name;
    SQ_CHECK(known, "sq_session_set_input: the model has no input '", name, "'");
    sq::DType dt;
    SQ_CHECK(to_dtype(dtype, &dt), "sq_session_set_input: input '", name, "': unknown dtype code ",
             static_cast<int>(dtype));
    SQ_CHECK(ndims <= 64, "sq_session_set_input: input '", name, "' has rank ", ndims);
    sq::Shape shape(dims, dims + ndims);
    sq::Tensor t(dt, shape);  // validates the dims (negative, overflow, absurd sizes)
    if (t.nbytes()) {
      SQ_CHECK(data, "sq_session_set_input: input '", name, "': data is null");
      std::memcpy(t.raw(), data, t.nbytes());
    }
    session->inputs[name] = std::move(t);
    return SQ_OK;
  });
}

sq_status sq_session_run(sq_session* session) {
  if (!session) return fail(SQ_ERROR_INVALID_ARGUMENT, "sq_session_run: null session");
  session->outputs.clear();
  sq_status s = guarded(SQ_ERROR_INVALID_ARGUMENT, [&] {
    sq::check_bindings(session->engine->model().graph, session->inputs);
    return SQ_OK;
  });
  if (s != SQ_OK) return s;
  return guarded(SQ_ERROR_RUNTIME, [&] {
    sq::ReferenceEngine::RunOptions options;
    options.arena = &session->arena;
    session->outputs = session->engine->run(session->inputs, *session->pool, options);
    return SQ_OK;
  });
}

sq_status sq_session_get_output(sq_session* session, const char* name, sq_dtype* dtype,
                                const int64_t** dims, size_t* ndims, const void** data) {
  if (!session || !name || !dtype || !dims || !ndims || !data) {
    return fail(SQ_ERROR_INVALID_ARGUMENT, "sq_session_get_output: null argument");
  }
  auto it = session->outputs.find(name);
  if (it == session->outputs.end()) {
    return fail(SQ_ERROR_INVALID_ARGUMENT,
                std::string("sq_session_get_output: no output '") + name +
                    "' (not a model output, or the session has not run)");
  }
  const sq::Tensor& t = it->second;
  *dtype = static_cast<sq_dtype>(sq::dtype_to_onnx(t.dtype()));
  *dims = t.shape().data();
  *ndims = t.shape().size();
  *data = t.raw();
  g_last_error.clear();
  return SQ_OK;
}

}  // extern "C"
