/* A plain C program that uses only runtime/capi/softquant.h and libsoftquant_rt: loads a .sqm,
 * runs it on two sessions from two threads at once, and checks every output byte for byte
 * against what the C++ engine computed (tests/sqm_test.cc writes the case file and runs this).
 *
 * Usage: capi_smoke CASE_FILE, where CASE_FILE has lines
 *   model PATH.sqm
 *   corrupt PATH          (optional: a damaged .sqm that must be refused with SQ_ERROR_FORMAT)
 *   input NAME DTYPE NDIMS D0 D1 ... RAW_FILE
 *   output NAME DTYPE NDIMS D0 D1 ... RAW_FILE   (expected values)
 * Exit code 0 if everything matched. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/capi/softquant.h"

#define MAX_VALUES 16
#define MAX_DIMS 8

typedef struct {
  char name[256];
  int dtype;
  size_t ndims;
  int64_t dims[MAX_DIMS];
  void* data;
  size_t size;
} Value;

static Value g_inputs[MAX_VALUES], g_outputs[MAX_VALUES];
static int g_num_inputs, g_num_outputs;
static sq_model* g_model;

static void* read_raw(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void* p = malloc(n > 0 ? (size_t)n : 1);
  if (p && n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
    free(p);
    p = NULL;
  }
  fclose(f);
  *size = (size_t)(n > 0 ? n : 0);
  return p;
}

static int read_value(FILE* f, Value* v) {
  char path[4096];
  if (fscanf(f, "%255s %d %zu", v->name, &v->dtype, &v->ndims) != 3 || v->ndims > MAX_DIMS) return 0;
  for (size_t i = 0; i < v->ndims; ++i) {
    long long d;
    if (fscanf(f, "%lld", &d) != 1) return 0;
    v->dims[i] = d;
  }
  if (fscanf(f, "%4095s", path) != 1) return 0;
  v->data = read_raw(path, &v->size);
  if (!v->data) fprintf(stderr, "capi_smoke: cannot read %s\n", path);
  return v->data != NULL;
}

/* One session: bind, run, compare. Returns the number of mismatching outputs (or -1). */
static void* session_main(void* arg) {
  long* result = (long*)arg;
  sq_session* s = NULL;
  *result = -1;
  if (sq_session_create(g_model, 1, &s) != SQ_OK) {
    fprintf(stderr, "capi_smoke: sq_session_create: %s\n", sq_last_error_message());
    return NULL;
  }
  long bad = 0;
  for (int rep = 0; rep < 2; ++rep) {
    for (int i = 0; i < g_num_inputs; ++i) {
      Value* v = &g_inputs[i];
      if (sq_session_set_input(s, v->name, (sq_dtype)v->dtype, v->dims, v->ndims, v->data) != SQ_OK) {
        fprintf(stderr, "capi_smoke: set_input %s: %s\n", v->name, sq_last_error_message());
        sq_session_free(s);
        return NULL;
      }
    }
    if (sq_session_run(s) != SQ_OK) {
      fprintf(stderr, "capi_smoke: run: %s\n", sq_last_error_message());
      sq_session_free(s);
      return NULL;
    }
    for (int i = 0; i < g_num_outputs; ++i) {
      Value* e = &g_outputs[i];
      sq_dtype dt;
      const int64_t* dims;
      size_t ndims;
      const void* data;
      if (sq_session_get_output(s, e->name, &dt, &dims, &ndims, &data) != SQ_OK) {
        fprintf(stderr, "capi_smoke: get_output %s: %s\n", e->name, sq_last_error_message());
        ++bad;
        continue;
      }
      int same = (int)dt == e->dtype && ndims == e->ndims;
      for (size_t d = 0; same && d < ndims; ++d) same = dims[d] == e->dims[d];
      same = same && memcmp(data, e->data, e->size) == 0;
      if (!same) {
        fprintf(stderr, "capi_smoke: output %s differs from the C++ engine's\n", e->name);
        ++bad;
      }
    }
  }
  sq_session_free(s);
  *result = bad;
  return NULL;
}

static int expect_status(const char* what, sq_status got, sq_status want) {
  if (got != want) {
    fprintf(stderr, "capi_smoke: %s: status %d, expected %d (%s)\n", what, (int)got, (int)want,
            sq_last_error_message());
    return 0;
  }
  printf("capi_smoke: %s refused as expected: %s\n", what, sq_last_error_message());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: capi_smoke CASE_FILE\n");
    return 2;
  }
  FILE* f = fopen(argv[1], "r");
  if (!f) {
    fprintf(stderr, "capi_smoke: cannot open %s\n", argv[1]);
    return 2;
  }
  char key[32], model_path[4096] = "", corrupt_path[4096] = "";
  int ok = 1;
  while (ok && fscanf(f, "%31s", key) == 1) {
    if (strcmp(key, "model") == 0) {
      ok = fscanf(f, "%4095s", model_path) == 1;
    } else if (strcmp(key, "corrupt") == 0) {
      ok = fscanf(f, "%4095s", corrupt_path) == 1;
    } else if (strcmp(key, "input") == 0 && g_num_inputs < MAX_VALUES) {
      ok = read_value(f, &g_inputs[g_num_inputs++]);
    } else if (strcmp(key, "output") == 0 && g_num_outputs < MAX_VALUES) {
      ok = read_value(f, &g_outputs[g_num_outputs++]);
    } else {
      ok = 0;
    }
  }
  fclose(f);
  if (!ok || !model_path[0]) {
    fprintf(stderr, "capi_smoke: bad case file %s\n", argv[1]);
    return 2;
  }

  int failures = 0;
  sq_model* m = NULL;
  failures += !expect_status("a missing file", sq_model_load("/nonexistent/model.sqm", &m), SQ_ERROR_IO);
  if (corrupt_path[0]) {
    failures += !expect_status("a corrupted file", sq_model_load(corrupt_path, &m), SQ_ERROR_FORMAT);
  }
  if (sq_model_load(model_path, &g_model) != SQ_OK) {
    fprintf(stderr, "capi_smoke: sq_model_load %s: %s\n", model_path, sq_last_error_message());
    return 1;
  }
  printf("capi_smoke: loaded %s: %zu input(s), %zu output(s)\n", model_path,
         sq_model_input_count(g_model), sq_model_output_count(g_model));

  /* Bad arguments: an unknown input name, a run with an input missing. */
  sq_session* s = NULL;
  if (sq_session_create(g_model, 2, &s) == SQ_OK) {
    int64_t one = 1;
    float x = 0;
    failures += !expect_status("an unknown input name",
                               sq_session_set_input(s, "no_such_input", SQ_DTYPE_FLOAT32, &one, 1, &x),
                               SQ_ERROR_INVALID_ARGUMENT);
    failures += !expect_status("a run without inputs", sq_session_run(s), SQ_ERROR_INVALID_ARGUMENT);
    sq_session_free(s);
  } else {
    ++failures;
  }

  /* Two sessions on two threads share the model, each with its own worker pool. */
  pthread_t threads[2];
  long results[2];
  for (int t = 0; t < 2; ++t) pthread_create(&threads[t], NULL, session_main, &results[t]);
  for (int t = 0; t < 2; ++t) pthread_join(threads[t], NULL);
  for (int t = 0; t < 2; ++t) {
    if (results[t] != 0) ++failures;
  }
  sq_model_free(g_model);
  for (int i = 0; i < g_num_inputs; ++i) free(g_inputs[i].data);
  for (int i = 0; i < g_num_outputs; ++i) free(g_outputs[i].data);
  if (failures) {
    fprintf(stderr, "capi_smoke: %d failure(s)\n", failures);
    return 1;
  }
  printf("capi_smoke: OK, %d output(s) identical to the C++ engine's on 2 concurrent sessions\n",
         g_num_outputs);
  return 0;
}
