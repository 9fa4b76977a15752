{
  "targets": [
    {
      "target_name": "seal",
      "sources": ["seal.c", "blake3/blake3.c", "blake3/blake3_dispatch.c", "blake3/blake3_portable.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "conditions": [
        ["OS=='linux'", {
          "ldflags": ["-Wl,-Bsymbolic"]
        }],
        ["target_arch=='x64'", {
          "sources": [
            "blake3/blake3_sse2_x86-64_unix.S", "blake3/blake3_sse41_x86-64_unix.S",
            "blake3/blake3_avx2_x86-64_unix.S", "blake3/blake3_avx512_x86-64_unix.S"
          ]
        }],
        ["target_arch=='arm64'", {
          "sources": ["blake3/blake3_neon.c"],
          "defines": ["BLAKE3_USE_NEON=1"]
        }],
        ["target_arch!='x64' and target_arch!='arm64'", {
          "defines": ["BLAKE3_NO_SSE2", "BLAKE3_NO_SSE41", "BLAKE3_NO_AVX2", "BLAKE3_NO_AVX512"]
        }]
      ]
    }
  ]
}
