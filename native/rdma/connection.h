// A reliable-connected queue pair set up through rdma_cm: the verbs connection that
// rdmagate's users embed, and that the NVMe/RDMA transport is built on.
//
// Connection management runs on a reactor thread. Work requests may be posted from any
// thread; each takes a preallocated slot, so posting allocates nothing. Completions
// come through the reactor's completion queue for the device, shared with its other
// connections there, and are handed to the sink in batches.
#pragma once

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mem/buffer_pool.h"
#include "rdma/completion_queue.h"
#include "rdma/protection_domain.h"
#include "rdma/shared_receive_queue.h"
#include "reactor/reactor.h"

namespace rdmagate::rdma {

enum class OpKind : uint8_t { kSend, kRecv, kWrite, kRead };

struct Completion {
  uint64_t op_id;
  int status;  // ibv_wc_status; IBV_WC_SUCCESS is 0
  OpKind kind;
  uint32_t byte_len;
  uint32_t wc_flags = 0;  // ibv_wc_flags: IBV_WC_WITH_INV on a receive whose SEND invalidated a key
  uint32_t invalidated_rkey = 0;  // that key, with IBV_WC_WITH_INV
  bool shared = false;  // a receive from the shared receive queue: op_id is the SRQ's
};

struct ConnectionEvent {
  enum class Type { kEstablished, kDisconnected, kFailed } type;
  int status = 0;  // rdma_cm event status (errno-like, or the peer's reject reason)
  std::string message;
  std::vector<uint8_t> private_data;  // the peer's, on kEstablished and on rejects
};

class Connection;

// Receives everything that happens on connections and listeners. Called on reactor
// threads; implementations queue and wake their consumer once per batch.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // `batch` is the connection's own buffer, reused for the next poll: copy what outlives the call.
  virtual void on_completions(uint64_t connection_id, const std::vector<Completion>& batch) = 0;
  virtual void on_connection_event(uint64_t connection_id, ConnectionEvent&& event) = 0;
  virtual void on_accepted(uint64_t listener_id, std::shared_ptr<Connection> connection) = 0;
  // The shared receive queue an accepted connection on the calling reactor should take
  // its receives from, or null for a receive queue of its own (clients, devices without
  // SRQs). Called on the connection's reactor, before its QP exists.
  virtual std::shared_ptr<SharedReceiveQueue> shared_receive_queue(const std::shared_ptr<ProtectionDomain>&) {
    return nullptr;
  }
};

struct ConnectionOptions {
  uint32_t send_depth = 64;
  uint32_t recv_depth = 64;
  uint32_t inline_size = 64;
  std::vector<uint8_t> private_data;
  int timeout_ms = 2000;  // address and route resolution
  // Posts, polls and teardown all happen on the connection's reactor (the NVMe
  // transports): they take no lock. The JS verbs API posts from its own thread and leaves
  // this off.
  bool reactor_only = false;
};

struct ConnectionCounters {
  std::atomic<uint64_t> bytes_sent{0}, bytes_received{0}, bytes_written{0}, bytes_read{0};
};

// Resolves "host" and port to a socket address; throws ERR_INVALID_ARG.
sockaddr_storage resolve_address(const std::string& host, uint16_t port);
std::string address_text(const sockaddr* sa);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  static std::shared_ptr<Connection> connect(Reactor& reactor, std::shared_ptr<EventSink> sink,
                                             const sockaddr_storage& destination,
                                             ConnectionOptions options);
  ~Connection();

  uint64_t id() const { return id_; }
  // The reactor its cm events and completions are handled on.
  Reactor& reactor() const { return reactor_; }
  const ConnectionOptions& options() const { return options_; }
  // Posts one work request. On the reactor thread, sends, writes and reads are chained
  // and handed to the device in one ibv_post_send per reactor iteration (one doorbell);
  // from other threads they go at once. `remote_addr`/`rkey` are used by kWrite and kRead; a kSend
  // with `invalidate_rkey` set invalidates that key at the peer (SEND_WITH_INV). Throws
  // ERR_RDMA_NOT_CONNECTED, ERR_RDMA_QUEUE_FULL, ERR_RDMA_VERBS.
  void post(OpKind kind, uint64_t op_id, BufferPool& pool, BufferPool::Chunk* chunk,
            uint32_t offset, uint32_t length, uint64_t remote_addr = 0, uint32_t rkey = 0,
            uint32_t invalidate_rkey = 0);
  // Hands the chained work requests to the device now (reactor thread).
  void flush_posts();
  // Whether receives come from a shared receive queue (post(kRecv) is then refused).
  const std::shared_ptr<SharedReceiveQueue>& shared_receive_queue() const { return srq_; }
  // The rkey that lets the peer reach `chunk`; registers the pool with this device once.
  uint32_t remote_key(BufferPool& pool, BufferPool::Chunk* chunk);
  // Registers `pool` with this device now, if it is not yet: what remote_key() would do
  // on the pool's first use.
  void register_pool(BufferPool& pool);
  // Disconnects (or aborts a connect); kDisconnected follows once resources are freed. On
  // the reactor thread, the peer can no longer reach our memory once this returns.
  void disconnect();

  std::string local_address() const;
  std::string peer_address() const;
  const ConnectionCounters& counters() const { return counters_; }

 private:
  friend class Listener;
  friend class CompletionQueue;
  enum class State { kResolving, kConnecting, kConnected, kClosing, kClosed };
  struct Slot {
    uint64_t op_id;
    BufferPool::Chunk* chunk;
    OpKind kind;
    uint32_t length;
  };

  Connection(Reactor& reactor, std::shared_ptr<EventSink> sink, ConnectionOptions options);
  void open_channel() {
    create_channel();
    watch_channel();
  }
  // Any thread, before the connection is shared: its own rdma_cm event channel.
  void create_channel();
  // The connection's reactor: its events are handled there from now on.
  void watch_channel();
  void attach_id(rdma_cm_id* id);
  void create_queue_pair();
  rdma_conn_param conn_param() const;
  void on_cm_events();
  void handle_cm_event(rdma_cm_event_type type, int status, std::vector<uint8_t> private_data);
  void stop_remote_access();  // connected: to the error state, and a DREQ to the peer
  // From the completion queue: one completion of this QP joins the batch, which
  // deliver() hands to the sink once the CQ's poll has recorded all of its batch.
  void record(const ibv_wc& wc);
  void deliver();
  void fail(int status, const std::string& message, std::vector<uint8_t> private_data = {});
  void teardown();

  const uint64_t id_;
  Reactor& reactor_;
  std::shared_ptr<EventSink> sink_;
  const ConnectionOptions options_;
  State state_ = State::kResolving;  // reactor thread

  rdma_event_channel* channel_ = nullptr;
  rdma_cm_id* cm_id_ = nullptr;
  std::shared_ptr<ProtectionDomain> domain_;
  std::shared_ptr<CompletionQueue> cq_;  // set before the QP exists; left after it is destroyed
  uint32_t cq_entries_ = 0;  // what this connection reserved in cq_
  uint32_t qp_num_ = 0;

  // Guards the QP against teardown while another thread posts, and the slots.
  mutable std::mutex qp_mutex_;
  // qp_mutex_, unless the connection is reactor_only: then nothing (and the caller must be
  // on the reactor, which post() checks).
  std::unique_lock<std::mutex> data_path_lock() const {
    return options_.reactor_only ? std::unique_lock<std::mutex>() : std::unique_lock<std::mutex>(qp_mutex_);
  }
  ibv_qp* qp_ = nullptr;
  bool postable_ = false;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  uint32_t sends_outstanding_ = 0, recvs_outstanding_ = 0;
  ConnectionCounters counters_;
  std::string local_address_, peer_address_;  // guarded by qp_mutex_
  // Reactor thread: reused by every poll, so polling allocates nothing. A delivery that
  // polls the CQ again (a teardown from the sink) leaves what it records for the outer one,
  // and the teardown's kDisconnected waits for the outer one to end.
  std::vector<Completion> batch_, delivering_;
  bool in_delivery_ = false;
  bool disconnect_pending_ = false;
  bool slots_flushed_ = false;  // teardown reported every slot: only SRQ receives remain
  std::shared_ptr<SharedReceiveQueue> srq_;  // set before the QP exists; kept until it is destroyed
  // Sends, writes and reads posted this reactor iteration, not yet handed to the device.
  struct Pending {
    ibv_send_wr wr;
    ibv_sge sge;
  };
  std::vector<Pending> pending_;  // guarded by qp_mutex_
  bool flush_scheduled_ = false;  // reactor thread
};

}  // namespace rdmagate::rdma
