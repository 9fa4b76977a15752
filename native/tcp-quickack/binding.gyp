{
  "targets": [
    {
      "target_name": "tcp_quickack",
      "sources": ["tcp_quickack.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
