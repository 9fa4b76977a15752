{
  "targets": [
    {
      "target_name": "pool_sleep",
      "sources": ["pool_sleep.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
