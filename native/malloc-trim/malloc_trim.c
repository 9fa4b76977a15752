// glibc's malloc_trim(0) for Node (issue #11): gives back to the kernel the free pages inside
// every malloc arena, not only those at the top of the heap, which is all free() ever returns.
// Node's Buffers live in glibc's heap; after a burst of transfers their freed chunks sit between
// the few that survive, and only this call returns those pages. Node has no binding for it.
#include <node_api.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value Trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value released;
#ifdef __GLIBC__
  // 1 when memory was given back, 0 when there was none to give.
  const int gave = malloc_trim(0);
#else
  const int gave = 0;  // other C libraries have no such call; their free() decides alone
#endif
  if (napi_get_boolean(env, gave != 0, &released) != napi_ok) return NULL;
  return released;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != napi_ok) return NULL;
  return exports;
}
