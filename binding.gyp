{
  "targets": [
    {
      "target_name": "rdmagate",
      "sources": [
        "native/napi/addon.cc",
        "native/napi/errors.cc",
        "native/napi/buffer_pool_binding.cc",
        "native/napi/rdma_binding.cc",
        "native/mem/buffer_pool.cc",
        "native/rdma/loader.cc",
        "native/rdma/device.cc",
        "native/rdma/protection_domain.cc",
        "native/rdma/connection.cc",
        "native/rdma/listener.cc",
        "native/reactor/reactor.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-fexceptions"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
