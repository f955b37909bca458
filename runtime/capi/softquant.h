/* Why this exists: the embedding API of the SoftQuant int8 runtime (libsoftquant_rt), in plain C
 * so C, C++ and any FFI can use it. It loads compiled models (.sqm, written by
 * `softquant compile`; runtime/graph/sqm_format.h) and needs neither ONNX nor protobuf.
 *
 * A model is loaded (mapped) and prepared once; any number of sessions share it, each with its
 * own worker threads, inputs and outputs, and sessions may run concurrently on different threads
 * (one session must not be used by two threads at once). A session keeps its model alive, so
 * sq_model_free may come before sq_session_free.
 *
 * Every function returns an sq_status; on failure sq_last_error_message() gives a one-line
 * message for the calling thread. No C++ exception crosses this API. */
#ifndef SOFTQUANT_CAPI_H_
#define SOFTQUANT_CAPI_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define SQ_API __attribute__((visibility("default")))
#else
#define SQ_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sq_status {
  SQ_OK = 0,
  SQ_ERROR_IO = 1,               /* file missing or unreadable */
  SQ_ERROR_FORMAT = 2,           /* not a .sqm, corrupted, truncated, unsupported version */
  SQ_ERROR_INVALID_ARGUMENT = 3, /* null pointer, unknown name, wrong dtype or shape */
  SQ_ERROR_RUNTIME = 4,          /* the model could not be prepared or run */
  SQ_ERROR_OUT_OF_MEMORY = 5
} sq_status;

/* Element types; the values are ONNX TensorProto's. */
typedef enum sq_dtype {
  SQ_DTYPE_FLOAT32 = 1,
  SQ_DTYPE_UINT8 = 2,
  SQ_DTYPE_INT8 = 3,
  SQ_DTYPE_INT32 = 6,
  SQ_DTYPE_INT64 = 7,
  SQ_DTYPE_BOOL = 9,
  SQ_DTYPE_FLOAT16 = 10,
  SQ_DTYPE_FLOAT64 = 11
} sq_dtype;

typedef struct sq_model sq_model;
typedef struct sq_session sq_session;

/* The message of the last failed call on this thread ("" if none); valid until the next call. */
SQ_API const char* sq_last_error_message(void);

/* Maps and validates a .sqm file and prepares its kernels (weights prepacked for this CPU are
   used in place from the mapping; others are packed for it). */
SQ_API sq_status sq_model_load(const char* path, sq_model** model);
SQ_API void sq_model_free(sq_model* model); /* NULL is fine */

/* Graph inputs and outputs, by index; names stay valid while the model lives. */
SQ_API size_t sq_model_input_count(const sq_model* model);
SQ_API size_t sq_model_output_count(const sq_model* model);
SQ_API const char* sq_model_input_name(const sq_model* model, size_t index);  /* NULL if out of range */
SQ_API const char* sq_model_output_name(const sq_model* model, size_t index); /* NULL if out of range */

/* threads >= 1: the calling thread plus threads - 1 workers. */
SQ_API sq_status sq_session_create(sq_model* model, int threads, sq_session** session);
SQ_API void sq_session_free(sq_session* session); /* NULL is fine */

/* Copies the data: the caller's buffer may be reused as soon as this returns. */
SQ_API sq_status sq_session_set_input(sq_session* session, const char* name, sq_dtype dtype,
                                      const int64_t* dims, size_t ndims, const void* data);
/* Checks every input against the model (names, dtypes, ranks, fixed and symbolic dims), runs. */
SQ_API sq_status sq_session_run(sq_session* session);
/* Pointers into the session, valid until the next sq_session_run or sq_session_free. */
SQ_API sq_status sq_session_get_output(sq_session* session, const char* name, sq_dtype* dtype,
                                       const int64_t** dims, size_t* ndims, const void** data);

#ifdef __cplusplus
}
#endif

#endif /* SOFTQUANT_CAPI_H_ */
