// TCP_QUICKACK for Node (issue #11): sends now the acknowledgement the kernel would delay.
//
// A client whose socket keeps Nagle's algorithm on (paramiko, Node's ssh2; neither sets
// TCP_NODELAY) holds back the tail of an SFTP WRITE larger than its SSH packets until our side
// acknowledges the part before it, and Linux delays that acknowledgement by up to 40 ms when it
// has nothing to send back: every sequential 32 KiB write took 44 ms. Node has no binding for
// the option; src/util/tcp-quickack.ts is the TypeScript side.
#include <node_api.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static napi_value QuickAck(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype type = napi_undefined;
  if (argc == 1) napi_typeof(env, argv[0], &type);
  if (type != napi_number || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "quickAck(fd): fd must be a file descriptor");
    return NULL;
  }
#ifdef TCP_QUICKACK
  // Linux: an acknowledgement that is due goes out at once; the option does not stay set (the
  // kernel goes back to delaying once we answer), so it is set after every read.
  const int one = 1;
  const int ok = setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one) == 0;
#else
  const int ok = 0;  // elsewhere there is no such option; the kernel decides alone
#endif
  if (napi_get_boolean(env, ok, &result) != napi_ok) return NULL;
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "quickAck", NAPI_AUTO_LENGTH, QuickAck, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "quickAck", fn) != napi_ok) return NULL;
  return exports;
}
