// A wait shorter than Node's timers can make, that gives the CPU away (issue #11).
//
// sleep(micros, callback) sleeps `micros` microseconds on one of libuv's pool threads, then
// calls `callback` on the main thread. Meanwhile the event loop keeps serving and, with nothing
// else to do, blocks in its poll, so another process runnable on this CPU gets it. Node's
// timers count whole milliseconds from a loop time that is itself truncated to the millisecond,
// so setTimeout(1) may fire after a few microseconds without the loop ever blocking, and only
// setTimeout(2) is sure to wait (1-2 ms). src/ftp/session.ts needs ~0.5 ms (same-host passive
// replies); src/util/pool-sleep.ts is the TypeScript side.
#include <node_api.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

/* The longest sleep asked for: a pool thread is shared with the store's work. */
#define MAX_MICROS 1000000

typedef struct {
  napi_async_work work;
  napi_ref callback;
  long micros;
} Sleep;

static void execute(napi_env env, void *data) {
  (void)env;
  Sleep *s = data;
  struct timespec left = { s->micros / 1000000, (s->micros % 1000000) * 1000 };
  // A signal cuts nanosleep short; it tells what is left.
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {}
}

static void done(napi_env env, napi_status status, void *data) {
  (void)status;  // cancelled or not, the caller is called back: it only waits
  Sleep *s = data;
  napi_value callback = NULL, global;
  napi_get_reference_value(env, s->callback, &callback);
  napi_delete_reference(env, s->callback);
  napi_delete_async_work(env, s->work);
  free(s);
  // An exception thrown by the callback is the caller's; Node reports it as uncaught.
  if (callback && napi_get_global(env, &global) == napi_ok) napi_call_function(env, global, callback, 0, NULL, NULL);
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value SleepOnPool(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc == 2) {
    napi_typeof(env, argv[0], &t0);
    napi_typeof(env, argv[1], &t1);
  }
  int64_t micros = -1;
  if (t0 != napi_number || t1 != napi_function || napi_get_value_int64(env, argv[0], &micros) != napi_ok ||
      micros < 0 || micros > MAX_MICROS)
    return throw_type(env, "sleep(micros, callback): micros from 0 to 1000000, callback a function");

  Sleep *s = calloc(1, sizeof *s);
  if (!s) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  s->micros = (long)micros;
  napi_value resource;
  napi_status st = napi_create_reference(env, argv[1], 1, &s->callback);
  if (st == napi_ok) st = napi_create_string_utf8(env, "poolSleep", NAPI_AUTO_LENGTH, &resource);
  if (st == napi_ok) st = napi_create_async_work(env, NULL, resource, execute, done, s, &s->work);
  if (st == napi_ok) st = napi_queue_async_work(env, s->work);
  if (st != napi_ok) {
    if (s->work) napi_delete_async_work(env, s->work);
    if (s->callback) napi_delete_reference(env, s->callback);
    free(s);
    napi_throw_error(env, NULL, "could not queue the sleep on the thread pool");
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "sleep", NAPI_AUTO_LENGTH, SleepOnPool, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "sleep", fn) != napi_ok) return NULL;
  return exports;
}
