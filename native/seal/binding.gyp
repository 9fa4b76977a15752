{
  "targets": [
    {
      "target_name": "seal",
      "sources": ["seal.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
