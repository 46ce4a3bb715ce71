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
        "native/reactor/reactor.cc",
        "native/napi/target_binding.cc",
        "native/bdev/ram_bdevs.cc",
        "native/bdev/bdev_registry.cc",
        "native/target/subsystem.cc",
        "native/target/controller.cc",
        "native/target/target.cc",
        "native/target/qpair.cc",
        "native/target/fabrics_commands.cc",
        "native/target/admin_commands.cc",
        "native/target/io_commands.cc",
        "native/target/discovery_log.cc",
        "native/transport/tcp/tcp_listener.cc",
        "native/transport/tcp/tcp_qpair.cc",
        "native/transport/rdma/rdma_listener.cc",
        "native/transport/rdma/rdma_qpair.cc",
        "native/util/crc32c.cc",
        "native/bdev/file_bdev.cc",
        "native/bdev/nvmf_bdev.cc",
        "native/util/uring.cc",
        "native/util/thread_pool.cc",
        "native/host/options.cc",
        "native/host/tcp_connection.cc",
        "native/host/queue_pair.cc",
        "native/host/controller.cc",
        "native/host/discovery.cc",
        "native/napi/host_binding.cc",
        "native/perf/perf_engine.cc",
        "native/napi/perf_binding.cc",
        "native/host/tcp_queue_transport.cc",
        "native/host/rdma_queue_transport.cc"
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
