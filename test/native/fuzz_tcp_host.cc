// libFuzzer target over the host's NVMe/TCP receive path: the input is what a controller
// sends after a valid ICResp, written over loopback to a real TcpConnection on a real
// reactor. What must hold for any input: no crash, no sanitizer finding; the host reads
// all of it or fails, and fails exactly once (at the latest when the controller closes)
// with nothing reported after; the host answers at most with one well-formed H2CTermReq.
//
// The first input byte picks the digests (bits 0 and 1), how the rest is written (bits
// 2-4: at once, or in pieces that the host reads one at a time) and what it is (bit 5):
// the stream as it is, or 24-byte headers that frame() makes into PDUs the host accepts.
// Bit 6 turns the receive pipe off, so that both ways of receiving are fuzzed.
// Header validation leaves the fuzzer little to follow towards a valid header, so raw
// streams rarely get past it; framed ones reach payload placement, and unless a header
// asks to be corrupted the test knows what the host must report for them.
// test-sources: native/host/tcp_connection.cc native/tcp/pdu_stream.cc native/reactor/reactor.cc native/tls/tls_session.cc native/tls/psk.cc native/auth/crypto.cc native/auth/key_text.cc
#if !defined(__clang__)
#error "fuzz_tcp_host.cc is a libFuzzer target: build it with clang++ -fsanitize=fuzzer"
#endif

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "host/tcp_connection.h"
#include "reactor/reactor.h"
#include "spec/tcp_pdu.h"
#include "tcp_controller.h"
#include "util/crc32c.h"

using namespace rdmagate;
using host::TcpConnection;

namespace {

// The largest C2HData the handler places; a larger one fails the connection.
constexpr uint32_t kMaxData = 128 * 1024;
// Bounds every wait on the host, below libFuzzer's -timeout so that a hang is named.
constexpr auto kWait = std::chrono::seconds(5);

void require(bool cond, const char* what) {
  if (cond) return;
  std::fprintf(stderr, "fuzz_tcp_host: %s\n", what);
  std::abort();
}

// Payload byte i of every framed C2HData.
uint8_t pattern(uint32_t i) { return uint8_t(i * 131 + (i >> 8)); }

// A stream framed from headers, and, when `exact`, what the host must make of it.
struct Framed {
  enum End { kEof, kProtocolError, kTermReq };
  std::vector<uint8_t> bytes;
  bool exact = true;      // no header was corrupted on request
  uint32_t pdus = 0;      // PDUs the host reports whole before the end
  uint32_t bad_data = 0;  // of which C2HData with a wrong data digest
  End end = kEof;
};

// Makes each 24 input bytes a PDU: byte 0 picks the type, the lengths, offsets, flags and
// digests are made consistent, and padding and payload are generated (byte 3 is the PDO,
// bytes 16-18 the C2HData length). Byte 23 asks for a wrong header digest (bit 0), a wrong
// data digest (bit 1) or header byte byte[22] % 24 xored with byte 21 (bit 2). Framing
// stops after the PDU that fails the connection, or at 1 MiB.
Framed frame(const uint8_t* in, size_t n, bool hd, bool dd) {
  static constexpr uint8_t kTypes[8] = {spec::kPduCapsuleResp, spec::kPduCapsuleResp, spec::kPduC2HData,
                                        spec::kPduC2HData,     spec::kPduC2HData,     spec::kPduR2T,
                                        spec::kPduC2HTermReq,  spec::kPduIcResp};
  Framed f;
  for (size_t at = 0; at + 24 <= n && f.bytes.size() < (1u << 20) && f.end == Framed::kEof; at += 24) {
    uint8_t h[24];
    std::memcpy(h, in + at, sizeof h);
    const uint8_t type = kTypes[h[0] & 7];
    if (type == spec::kPduIcResp) {  // a second one: out of sequence
      const spec::IcRespPdu r = tcp_controller::ic_resp(0);
      const auto* b = reinterpret_cast<const uint8_t*>(&r);
      f.bytes.insert(f.bytes.end(), b, b + sizeof r);
      f.end = Framed::kProtocolError;
      break;
    }
    const bool digests = spec::pdu_has_digests(type);
    const uint32_t header_end = 24 + (hd && digests ? 4 : 0);
    const bool bad_hdgst = (h[23] & 1) && hd && digests, bad_ddgst = (h[23] & 2) && dd;
    spec::CommonHeader ch{type, 0, 24, 0, header_end};
    uint32_t data = 0;
    if (digests) ch.flags = uint8_t(hd ? spec::kPduFlagHdgst : 0);
    if (type == spec::kPduC2HData) {
      data = 1 + (uint32_t(h[16]) | uint32_t(h[17]) << 8 | uint32_t(h[18] & 3) << 16);
      ch.flags |= uint8_t(h[1] & (spec::kPduFlagDataLast | spec::kPduFlagDataSuccess));
      if (ch.flags & spec::kPduFlagDataSuccess) ch.flags |= spec::kPduFlagDataLast;
      if (dd) ch.flags |= spec::kPduFlagDdgst;
      ch.pdo = uint8_t(h[3] < header_end || h[3] > 252 ? header_end : (h[3] + 3) & ~3);
      ch.plen = ch.pdo + data + (dd ? 4 : 0);
      std::memcpy(h + offsetof(spec::DataPdu, datal), &data, sizeof data);
    } else if (type == spec::kPduC2HTermReq) {
      ch.plen = 24 + h[4] % (spec::kTcpTermReqMaxErrorData + 1);
      h[offsetof(spec::TermReqPdu, fes)] = uint8_t(1 + h[8] % spec::kFesUnsupportedParam);
      h[offsetof(spec::TermReqPdu, fes) + 1] = 0;
    } else if (type == spec::kPduR2T) {
      h[offsetof(spec::R2tPdu, r2tl)] |= 1;
    }
    std::memcpy(h, &ch, sizeof ch);
    if (h[23] & 4) {
      h[h[22] % 24] ^= h[21];
      f.exact = f.exact && h[21] == 0;
    }
    f.bytes.insert(f.bytes.end(), h, h + sizeof h);
    if (hd && digests) {
      uint32_t d = util::crc32c_digest(h, sizeof h) ^ (bad_hdgst ? 1 : 0);
      f.bytes.insert(f.bytes.end(), reinterpret_cast<uint8_t*>(&d), reinterpret_cast<uint8_t*>(&d + 1));
    }
    const size_t payload = f.bytes.size() + (ch.pdo ? ch.pdo - header_end : 0);
    f.bytes.resize(f.bytes.size() + (ch.plen - header_end));  // padding, error data, payload
    if (bad_hdgst || data > kMaxData) {
      f.end = Framed::kProtocolError;
    } else if (type == spec::kPduC2HTermReq) {
      f.end = Framed::kTermReq;
    } else if (data) {
      for (uint32_t i = 0; i < data; ++i) f.bytes[payload + i] = pattern(i);
      if (dd) {
        uint32_t d = util::crc32c_digest(&f.bytes[payload], data) ^ (bad_ddgst ? 1 : 0);
        std::memcpy(&f.bytes[payload + data], &d, sizeof d);
      }
      f.bad_data += bad_ddgst;
    }
    f.pdus += f.end == Framed::kEof;
  }
  return f;
}

// Checks the order of the host's callbacks and places each C2HData in a buffer of exactly
// its size, so that ASan sees any byte the connection writes out of bounds. Counts the
// PDUs reported whole, and checks framed payloads.
class Handler : public TcpConnection::Handler {
 public:
  Handler(bool ddgst, bool framed) : ddgst_(ddgst), framed_(framed) {}

  // Reactor thread until the connection is gone.
  uint32_t pdus = 0, bad_data = 0;

  void on_established() override {
    std::lock_guard<std::mutex> lock(mu_);
    require(!established_ && failures_ == 0, "on_established twice or after on_failed");
    established_ = true;
  }
  void on_capsule_resp(const spec::CompletionEntry&) override {
    between_pdus("on_capsule_resp");
    ++pdus;
  }
  uint8_t* on_c2h_data(const spec::DataPdu& p) override {
    between_pdus("on_c2h_data");
    if (p.datal > kMaxData) return nullptr;
    data_ = p;
    dest_.reset(new uint8_t[p.datal]);
    return dest_.get();
  }
  void on_c2h_data_done(const spec::DataPdu& p, bool digest_ok) override {
    require(dest_ && p.cccid == data_.cccid && p.datao == data_.datao && p.datal == data_.datal,
            "on_c2h_data_done without its on_c2h_data");
    require(digest_ok || ddgst_, "a data digest error without data digests");
    for (uint32_t i = 0; framed_ && i < p.datal; ++i)
      require(dest_[i] == pattern(i), "a C2HData payload landed wrong");
    dest_.reset();
    between_pdus("on_c2h_data_done");
    ++pdus;
    bad_data += !digest_ok;
  }
  void on_r2t(const spec::R2tPdu&) override {
    between_pdus("on_r2t");
    ++pdus;
  }
  void on_sent(host::TxPdu&) override { require(false, "on_sent for a PDU nobody sent"); }
  void on_burst_end() override {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  void on_failed(const host::Failure& f) override {
    std::lock_guard<std::mutex> lock(mu_);
    require(failures_ == 0, "on_failed twice");
    ++failures_;
    failure_ = f;
    cv_.notify_all();
  }

  // Until `pred` (called under the lock) holds or the connection has failed; false
  // after kWait.
  bool wait(const std::function<bool()>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return pred() || failures_ > 0; });
  }
  bool wait_established() { return wait([this] { return established_; }); }
  bool failed() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_ > 0;
  }
  host::Failure failure() {
    std::lock_guard<std::mutex> lock(mu_);
    return failure_;
  }

 private:
  // A PDU is reported only on an established connection, and not inside a C2HData.
  void between_pdus(const char* what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!established_ || failures_ > 0 || dest_) {
      std::fprintf(stderr, "fuzz_tcp_host: %s out of order\n", what);
      std::abort();
    }
  }

  const bool ddgst_, framed_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool established_ = false;
  int failures_ = 0;
  host::Failure failure_;
  spec::DataPdu data_{};
  std::unique_ptr<uint8_t[]> dest_;
};

// Shared by every input: the reactor thread and the listening socket.
struct Fixture {
  Fixture() { reactor.start(); }
  Reactor reactor{"fuzz-tcp-host", IdleMode::kEvent};
  tcp_controller::Listener listener;
};

Fixture& fixture() {
  static Fixture* f = new Fixture;
  return *f;
}

// What the host sent after its ICReq: one H2CTermReq after a protocol error of its own
// finding (not the controller's C2HTermReq), else nothing.
void check_answer(const std::vector<uint8_t>& answer, bool protocol_error) {
  require(answer.empty() != protocol_error, "an H2CTermReq without a protocol error, or none with one");
  if (answer.empty()) return;
  spec::TermReqPdu t{};
  require(answer.size() >= sizeof t && answer.size() <= spec::kTermReqMaxLen, "H2CTermReq length");
  std::memcpy(&t, answer.data(), sizeof t);
  require(t.hdr.type == spec::kPduH2CTermReq && t.hdr.hlen == sizeof t && t.hdr.pdo == 0 &&
              t.hdr.plen == answer.size() && t.fes >= spec::kFesInvalidHeaderField &&
              t.fes <= spec::kFesUnsupportedParam,
          "malformed H2CTermReq");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool hd = data[0] & 1, dd = data[0] & 2, framed = data[0] & 0x20, recv_pipe = !(data[0] & 0x40);
  const unsigned cut = (data[0] >> 2) & 7;
  Framed f;
  if (framed) f = frame(data + 1, size - 1, hd, dd);
  else f = Framed{std::vector<uint8_t>(data + 1, data + size), false};
  const std::vector<uint8_t>& stream = f.bytes;

  Fixture& fx = fixture();
  host::TransportCounters counters;
  Handler handler(dd, framed);
  auto conn = std::make_unique<TcpConnection>(fx.reactor, handler, counters);
  TcpConnection* c = conn.get();
  const uint16_t port = fx.listener.port();
  fx.reactor.post([c, port, hd, dd, recv_pipe] { c->connect("127.0.0.1", port, hd, dd, recv_pipe); });

  const int fd = fx.listener.accept();
  require(fd >= 0 && tcp_controller::read_icreq(fd, hd, dd), "no ICReq");
  spec::IcRespPdu resp = tcp_controller::ic_resp(uint8_t(data[0] & 3));
  require(tcp_controller::write_full(fd, &resp, sizeof resp) && handler.wait_established() &&
              !handler.failed(),
          "the host did not take a valid ICResp");

  // At most 256 pieces, so that small pieces cost no more than a few hundred round trips.
  const size_t piece =
      cut == 0 ? stream.size() : std::max(size_t(1) << (cut - 1), (stream.size() + 255) / 256);
  uint64_t sent = sizeof resp;
  for (size_t off = 0; off < stream.size() && !handler.failed(); off += piece) {
    const size_t n = std::min(piece, stream.size() - off);
    if (!tcp_controller::write_full(fd, stream.data() + off, n)) break;  // the host closed
    sent += n;
    require(handler.wait([&] { return counters.bytes_received.get() >= sent; }),
            "the host neither read the input nor failed");
  }
  shutdown(fd, SHUT_WR);
  require(handler.wait([] { return false; }), "the host did not fail at the end of the stream");
  std::vector<uint8_t> answer;
  require(tcp_controller::read_to_end(fd, answer), "the host did not close");
  close(fd);

  // The connection goes on its own thread, and before the handler.
  std::promise<void> gone;
  fx.reactor.post([&] {
    conn.reset();
    gone.set_value();
  });
  gone.get_future().wait();
  require(TcpConnection::open_sockets() == 0, "a host socket left open");

  const host::Failure failure = handler.failure();
  const bool term_req = failure.message.find("(C2HTermReq)") != std::string::npos;
  const bool protocol_error = failure.code == host::kErrTransport && !term_req;
  check_answer(answer, protocol_error);
  if (f.exact) {
    require(handler.pdus == f.pdus && handler.bad_data == f.bad_data, "PDUs lost or made up");
    require(f.end == Framed::kEof ? failure.code == host::kErrDisconnected
                                  : f.end == Framed::kTermReq ? term_req : protocol_error,
            "the host failed for the wrong reason");
  }
  return 0;
}
