// What a host queue pair needs from the fabric under it, so that one QueuePair (request
// slots, Connect, timeouts, parking for reconnects) runs over NVMe/TCP or NVMe/RDMA:
// open a connection, send command capsules, move their data, and report each command's
// end. How data moves (R2T/H2CData/C2HData, or RDMA READ/WRITE against keyed SGLs) is the
// transport's business; the queue pair never asks which transport it has.
//
// A transport object lives as long as its queue pair; connect() replaces the connection
// under it, as each reconnect needs a fresh one. Everything runs on the queue pair's
// reactor thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "host/failure.h"
#include "host/options.h"
#include "mem/buffer_pool.h"
#include "spec/nvme.h"
#include "tls/psk.h"
#include "util/wire_counters.h"

namespace rdmagate::host {

// TCP's PDUs or RDMA's capsules, as one queue's transport moved them.
struct TransportCounters : util::WireCounters {
  util::Counter r2ts;  // TCP only
};

// What ICReq/ICResp settled. Transports without that handshake report the defaults.
struct TcpParams {
  bool hdgst = false;
  bool ddgst = false;
  uint8_t cpda = 0;             // controller's data alignment for PDUs we send
  uint32_t maxh2cdata = 0;      // most data bytes in one H2CData PDU
};

// What a queue is, fixed for its life (where it connects is given at each connect).
struct QueueEndpoint {
  uint16_t qid = 0;
  uint16_t depth = 0;  // command slots; cids run from 0 to depth (the last is Connect's)
  bool hdgst = false;
  bool ddgst = false;
  bool recv_pipe = true;  // NVMe/TCP only
  std::shared_ptr<BufferPool> lend_pool;  // NVMe/RDMA only: see ControllerOptions
  std::shared_ptr<const tls::TlsPsk> tls;  // NVMe/TCP only: connect over TLS with this PSK
};

// One command as the queue pair hands it over. The queue pair keeps `data` unchanged
// and alive until the command ends (on_command_done, or close()).
struct TransportCommand {
  spec::SubmissionEntry sqe;  // CID and PSDT set; the transport fills in DPTR
  spec::DataDirection dir = spec::kXferNone;
  uint8_t* data = nullptr;
  uint32_t length = 0;
  // The registered chunk `data` lies in (I/O from JS), else null: an RDMA transport
  // then bounces the data through memory of its own.
  BufferPool* pool = nullptr;
  BufferPool::Chunk* chunk = nullptr;
};

class QueueTransport {
 public:
  // Called on the reactor thread. A handler may close the transport from any callback;
  // it must not destroy it from one.
  class Handler {
   public:
    virtual ~Handler() = default;
    // The connection is up: the queue's Connect may go out.
    virtual void on_established() = 0;
    // Command `cid` ended: its data is in place (reads) or taken (writes). `status` is
    // the CQE's status word, or a transport's verdict (a data digest error).
    virtual void on_command_done(uint16_t cid, uint32_t status, const spec::CompletionEntry& cqe) = 0;
    // End of one burst of completions: the moment to hand them on.
    virtual void on_burst_end() = 0;
    // The connection is closed; no callback follows. Called once per connection.
    virtual void on_failed(const Failure& failure) = 0;
  };

  virtual ~QueueTransport() = default;

  // Opens a new connection to `to` (closing any previous one without reports);
  // on_established or on_failed follows. `cntlid` is the controller's for I/O queues
  // (NVMe/RDMA names it in its connect request).
  virtual void connect(const TransportAddress& to, uint16_t cntlid) = 0;
  // Connect succeeded: writes up to `max` bytes (from IOCCSZ) may travel in the
  // capsule from now on; a transport may allow fewer. Until then, none do but
  // those the transport always allows (NVMe/TCP's 8 KiB).
  virtual void enable_incapsule(uint32_t max) = 0;
  // The most in-capsule data an I/O queue of this transport can carry.
  virtual uint32_t incapsule_capacity() const = 0;
  // Sends the command capsule (with its data, when in-capsule) by the next flush() at
  // the latest. Returns 0, or the status the command must fail with at once because
  // this transport cannot carry it (RDMA: over 128 KiB outside registered memory).
  virtual uint32_t send(const TransportCommand& cmd) = 0;
  virtual void flush() = 0;
  // Closes with `failure` and reports it through on_failed.
  virtual void fail(const Failure& failure) = 0;
  // Closes without reporting. Outstanding commands are forgotten: the queue pair ends them.
  virtual void close() = 0;
  // Runs `done` on the reactor once everything the connections held is freed (sockets,
  // verbs objects, registered memory): at once, or when an RDMA connection's teardown
  // ends. Call after close().
  virtual void when_released(std::function<void()> done) = 0;
  virtual const TcpParams& tcp_params() const = 0;
};

}  // namespace rdmagate::host
