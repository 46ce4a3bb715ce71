// Unit tests for the host's TcpConnection receive path, the test playing the controller:
// a real connection on a real reactor connects to a loopback socket, and the test writes
// crafted PDU streams to it, whole or in pieces cut around PDU boundaries. Every payload
// must land in its destination, every PDU be reported in wire order, a large payload after
// a large one land without a copy, and bad input fail the connection exactly once.
// test-sources: native/host/tcp_connection.cc native/tcp/pdu_stream.cc native/reactor/reactor.cc native/tls/tls_session.cc native/tls/psk.cc native/auth/crypto.cc native/auth/key_text.cc
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "host/tcp_connection.h"
#include "reactor/reactor.h"
#include "spec/tcp_pdu.h"
#include "tcp_controller.h"
#include "util/crc32c.h"

using namespace rdmagate;
using host::TcpConnection;

namespace {

using Buffers = std::map<uint16_t, std::vector<uint8_t>>;  // by command id

constexpr uint8_t kLast = spec::kPduFlagDataLast;
constexpr uint8_t kSuccess = spec::kPduFlagDataSuccess;

// What the host reported, in the order it did.
struct Event {
  enum Kind : uint8_t { kEstablished, kResp, kData, kDataDone, kR2t, kFailed };
  Kind kind;
  uint16_t id = 0;      // CID or CCCID
  uint32_t offset = 0;  // DATAO or R2TO
  uint32_t length = 0;  // DATAL or R2TL
  uint32_t more = 0;    // C2HData flags, R2T TTAG or CQE status
  bool ok = true;       // digest_ok
  // Not compared: bytes_copied as the event came, to tell what the host copied.
  uint64_t copied = 0;

  bool operator==(const Event& o) const {
    return kind == o.kind && id == o.id && offset == o.offset && length == o.length &&
           more == o.more && ok == o.ok;
  }
};

std::string show(const Event& e) {
  static const char* const kNames[] = {"established", "resp", "data", "data_done", "r2t", "failed"};
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s id %u offset %u length %u more 0x%x ok %d", kNames[e.kind],
                e.id, e.offset, e.length, e.more, e.ok);
  return buf;
}

// A controller's PDU stream, with what the host must report for it and where in the
// stream each report falls due, what each command's buffer must end up holding, and the
// boundaries between the parts of its PDUs (where the tests cut it).
class Stream {
 public:
  Stream(bool hdgst, bool ddgst) : hd_(hdgst), dd_(ddgst) {}

  void ic_resp(uint8_t digest) {
    mark();
    spec::IcRespPdu p = tcp_controller::ic_resp(digest);
    put(&p, sizeof p);
    mark();
    due({Event::kEstablished});
  }

  void resp(uint16_t cid, uint16_t status = 0) {
    spec::CapsuleRespPdu p{};
    p.cqe.cid = cid;
    p.cqe.status = status;
    header(&p, spec::kPduCapsuleResp, 0, 0, 0);
    due({Event::kResp, cid, 0, 0, status});
  }

  // A CapsuleResp whose header digest is wrong: the host reports nothing for it.
  void resp_bad_hdgst(uint16_t cid) {
    spec::CapsuleRespPdu p{};
    p.cqe.cid = cid;
    header(&p, spec::kPduCapsuleResp, 0, 0, 0);
    bytes_.back() ^= 0xff;
  }

  void r2t(uint16_t cccid, uint16_t ttag, uint32_t offset, uint32_t length) {
    spec::R2tPdu p{};
    p.cccid = cccid;
    p.ttag = ttag;
    p.r2to = offset;
    p.r2tl = length;
    header(&p, spec::kPduR2T, 0, 0, 0);
    due({Event::kR2t, cccid, offset, length, ttag});
  }

  // `pad` bytes (a multiple of 4) between the header and the data; `bad_ddgst` sends a
  // wrong data digest.
  void data(uint16_t cccid, uint32_t offset, uint32_t length, uint8_t flags, uint32_t pad = 0,
            bool bad_ddgst = false) {
    std::vector<uint8_t> payload(length);
    for (auto& b : payload) b = uint8_t(rng_());
    spec::DataPdu p{};
    p.cccid = cccid;
    p.datao = offset;
    p.datal = length;
    const uint8_t wire_flags = header(&p, spec::kPduC2HData, flags, pad, length);
    due({Event::kData, cccid, offset, length, wire_flags});
    zeros(pad);
    mark();
    put(payload.data(), length);
    mark();
    if (dd_) {
      uint32_t d = util::crc32c_digest(payload.data(), length) ^ (bad_ddgst ? 1 : 0);
      put(&d, sizeof d);
      mark();
    }
    due({Event::kDataDone, cccid, offset, length, wire_flags, !bad_ddgst});
    auto& buf = data_[cccid];
    buf.resize(std::max<size_t>(buf.size(), offset + length));
    std::copy(payload.begin(), payload.end(), buf.begin() + offset);
  }

  // A C2HTermReq with `error_len` bytes of error data.
  void term_req(uint16_t fes, uint32_t error_len) {
    mark();
    spec::TermReqPdu t{};
    t.hdr = {spec::kPduC2HTermReq, 0, sizeof t, 0, uint32_t(sizeof t + error_len)};
    t.fes = fes;
    put(&t, sizeof t);
    zeros(error_len);
    mark();
  }

  // A header of a type no controller sends.
  void unknown_pdu() {
    mark();
    spec::CommonHeader h{0x0a, 0, 24, 0, 24};
    put(&h, sizeof h);
    zeros(24 - sizeof h);
    mark();
  }

  const std::vector<uint8_t>& bytes() const { return bytes_; }
  size_t size() const { return bytes_.size(); }
  const std::vector<size_t>& marks() const { return marks_; }
  // What each command must hold.
  const Buffers& data() const { return data_; }
  // Zeroed buffers for the host, one per command, each sized to its data.
  Buffers buffers() const {
    Buffers b;
    for (auto& [cid, d] : data_) b[cid].assign(d.size(), 0);
    return b;
  }
  // The events due once the host has the first `n` bytes.
  std::vector<Event> expected(size_t n = SIZE_MAX) const {
    std::vector<Event> out;
    for (auto& [at, e] : due_)
      if (at <= n) out.push_back(e);
    return out;
  }

 private:
  void put(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  void zeros(size_t n) { bytes_.resize(bytes_.size() + n); }
  void mark() { marks_.push_back(bytes_.size()); }
  void due(const Event& e) { due_.emplace_back(bytes_.size(), e); }

  // Frames a 24-byte header whose type-specific fields `pdu` holds, and its digest.
  // Returns the flags it sent.
  uint8_t header(void* pdu, uint8_t type, uint8_t flags, uint32_t pad, uint32_t data_len) {
    const bool data = data_len > 0;
    const uint32_t header_end = 24 + (hd_ ? 4 : 0);
    const uint32_t pdo = data ? header_end + pad : 0;
    const uint32_t plen = data ? pdo + data_len + (dd_ ? 4 : 0) : header_end;
    if (hd_) flags |= spec::kPduFlagHdgst;
    if (data && dd_) flags |= spec::kPduFlagDdgst;
    spec::CommonHeader h{type, flags, 24, uint8_t(pdo), plen};
    std::memcpy(pdu, &h, sizeof h);
    mark();
    put(pdu, sizeof h);
    mark();
    put(static_cast<uint8_t*>(pdu) + sizeof h, 24 - sizeof h);
    mark();
    if (hd_) {
      uint32_t d = util::crc32c_digest(pdu, 24);
      put(&d, sizeof d);
      mark();
    }
    return flags;
  }

  const bool hd_, dd_;
  std::mt19937 rng_{20260101};
  std::vector<uint8_t> bytes_;
  std::vector<size_t> marks_;
  std::vector<std::pair<size_t, Event>> due_;
  Buffers data_;
};

// The test's Handler: records what the host reports and hands out each command's buffer.
class Recorder : public TcpConnection::Handler {
 public:
  Recorder(host::TransportCounters& counters, Buffers& buffers)
      : counters_(counters), buffers_(buffers) {}

  TcpConnection* conn = nullptr;
  // Read by the test thread once the reactor has stopped, or under mu.
  std::vector<Event> events;
  std::vector<host::Failure> failures;
  std::mutex mu;
  std::condition_variable cv;

  void on_established() override { record({Event::kEstablished}); }
  void on_capsule_resp(const spec::CompletionEntry& cqe) override {
    record({Event::kResp, cqe.cid, 0, 0, cqe.status});
  }
  uint8_t* on_c2h_data(const spec::DataPdu& p) override {
    record({Event::kData, p.cccid, p.datao, p.datal, p.hdr.flags});
    auto it = buffers_.find(p.cccid);
    if (it == buffers_.end() || p.datao > it->second.size() ||
        p.datal > it->second.size() - p.datao) {
      conn->protocol_error(
          spec::PduError{spec::kFesInvalidHeaderField, offsetof(spec::DataPdu, cccid)},
          "C2HData for no command");
      return nullptr;
    }
    return it->second.data() + p.datao;
  }
  void on_c2h_data_done(const spec::DataPdu& p, bool digest_ok) override {
    record({Event::kDataDone, p.cccid, p.datao, p.datal, p.hdr.flags, digest_ok});
  }
  void on_r2t(const spec::R2tPdu& p) override { record({Event::kR2t, p.cccid, p.r2to, p.r2tl, p.ttag}); }
  void on_sent(host::TxPdu&) override {}
  void on_burst_end() override {
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  }
  void on_failed(const host::Failure& f) override {
    std::lock_guard<std::mutex> lock(mu);
    failures.push_back(f);
    events.push_back({Event::kFailed});
    cv.notify_all();
  }

 private:
  void record(Event e) {
    e.copied = counters_.bytes_copied.get();
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
  }

  host::TransportCounters& counters_;
  Buffers& buffers_;
};

// One connection: a TcpConnection on its own reactor thread, connected to a controller
// socket that has read its ICReq. The test touches the connection only through the
// reactor, and reads what the Recorder holds once stop() has joined the reactor.
class Harness {
 public:
  Harness(bool hdgst, bool ddgst, Buffers destinations, bool recv_pipe = true)
      : buffers(std::move(destinations)) {
    reactor_.start();
    conn_ = std::make_unique<TcpConnection>(reactor_, rec, counters);
    rec.conn = conn_.get();
    const uint16_t port = listener_.port();
    reactor_.post([this, port, hdgst, ddgst, recv_pipe] {
      conn_->connect("127.0.0.1", port, hdgst, ddgst, recv_pipe);
    });
    fd = listener_.accept();
    CHECK(fd >= 0);
    CHECK(tcp_controller::read_icreq(fd, hdgst, ddgst));
  }
  ~Harness() {
    stop();
    if (fd >= 0) ::close(fd);
  }

  // Closes the connection on its thread without callbacks and joins the reactor.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    reactor_.post([this] { conn_.reset(); });
    reactor_.stop();
  }

  // Until `pred` holds on the events so far, the connection fails, or (a failed check,
  // never reached when the host works) 10 seconds pass.
  bool wait(const std::function<bool()>& pred) {
    std::unique_lock<std::mutex> lock(rec.mu);
    return rec.cv.wait_for(lock, std::chrono::seconds(10),
                           [&] { return pred() || !rec.failures.empty(); });
  }
  bool wait_failed() { return wait([] { return false; }); }
  // Until the host has read the first `n` bytes.
  bool wait_received(uint64_t n) { return wait([&] { return counters.bytes_received.get() >= n; }); }

  // Keeps the reactor busy until release(): what the controller writes meanwhile is all
  // in the socket when the host next reads.
  void hold() {
    std::unique_lock<std::mutex> lock(hold_mu_);
    held_ = false;
    released_ = false;
    reactor_.post([this] {
      std::unique_lock<std::mutex> l(hold_mu_);
      held_ = true;
      hold_cv_.notify_all();
      hold_cv_.wait(l, [this] { return released_; });
    });
    hold_cv_.wait(lock, [this] { return held_; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(hold_mu_);
    released_ = true;
    hold_cv_.notify_all();
  }

  Buffers buffers;  // the destinations, by CCCID
  host::TransportCounters counters;
  Recorder rec{counters, buffers};
  int fd = -1;  // the controller's socket

 private:
  tcp_controller::Listener listener_;
  Reactor reactor_{"test-tcp-host", IdleMode::kEvent};
  std::unique_ptr<TcpConnection> conn_;
  std::mutex hold_mu_;
  std::condition_variable hold_cv_;
  bool held_ = false, released_ = false;
  bool stopped_ = false;
};

enum class Write { kWhole, kPieces };

// Writes the stream to the host. kWhole: as much as the socket takes while the reactor
// is held, so that one read of the host's holds many PDUs, then the rest. kPieces: cut
// twice near each PDU part boundary and at random in between, each piece read by the
// host before the next is written, so the host sees every kind of partial PDU.
void write_stream(Harness& h, const Stream& s, Write mode, std::mt19937& rng) {
  const std::vector<uint8_t>& b = s.bytes();
  if (mode == Write::kWhole) {
    h.hold();
    ssize_t w = send(h.fd, b.data(), b.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    size_t done = w > 0 ? size_t(w) : 0;
    h.release();
    CHECK(tcp_controller::write_full(h.fd, b.data() + done, b.size() - done));
    return;
  }
  std::vector<size_t> cuts{b.size()};
  std::uniform_int_distribution<size_t> near(0, 6);
  std::uniform_int_distribution<size_t> gap(1, 20000);
  for (size_t m : s.marks())
    for (int i = 0; i < 2; ++i) cuts.push_back(m + near(rng) - std::min<size_t>(m, 3));
  for (size_t at = gap(rng); at < b.size(); at += gap(rng)) cuts.push_back(at);
  std::sort(cuts.begin(), cuts.end());
  size_t from = 0;
  for (size_t to : cuts) {
    to = std::min(to, b.size());
    if (to <= from) continue;
    CHECK(tcp_controller::write_full(h.fd, b.data() + from, to - from));
    CHECK(h.wait_received(to));
    from = to;
  }
}

void check_events(const std::vector<Event>& got, const std::vector<Event>& want) {
  CHECK_EQ(got.size(), want.size());
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    if (got[i] == want[i]) continue;
    CHECK_EQ(show(got[i]), show(want[i]));
    return;
  }
}

// The host failed exactly once, after everything else it reported, with this code.
void check_failed_once(const Harness& h, const char* code) {
  CHECK_EQ(h.rec.failures.size(), 1u);
  CHECK(!h.rec.events.empty() && h.rec.events.back().kind == Event::kFailed);
  if (!h.rec.failures.empty()) CHECK_EQ(h.rec.failures[0].code, std::string(code));
}

// bytes_copied while the host received the payload of the C2HData for `cccid` at `offset`.
uint64_t copied_for(const std::vector<Event>& events, uint16_t cccid, uint32_t offset) {
  uint64_t start = 0;
  for (const Event& e : events) {
    if (e.id != cccid || e.offset != offset) continue;
    if (e.kind == Event::kData) start = e.copied;
    if (e.kind == Event::kDataDone) return e.copied - start;
  }
  return UINT64_MAX;
}

// Payloads of every size around the staging buffer and the copy threshold, with and
// without PDO padding and SUCCESS, between CapsuleResps and R2Ts.
void mixed_stream(Stream& s, uint8_t digest) {
  s.ic_resp(digest);
  s.data(1, 0, 512, kLast);
  s.resp(1);
  s.data(2, 0, 4096, kLast | kSuccess, 8);
  s.r2t(30, 7, 0, 8192);
  s.data(3, 0, 8192, kLast);
  s.resp(3, 0x4003);
  s.resp(30);
  s.data(4, 0, 8193, kLast | kSuccess, 36);
  s.data(5, 0, 65536, 0);
  s.data(5, 65536, 65536, kLast, 4);  // large after large
  s.resp(5);
  s.data(6, 0, 131072, kLast | kSuccess, 100);  // large after large and a CapsuleResp
  s.data(7, 0, 4096, kLast);
  s.r2t(31, 8, 4096, 512);
  s.resp(7);
  s.data(8, 0, 1, kLast | kSuccess);  // what follows starts at an odd offset
  s.data(9, 0, 512, kLast, 200);
  s.resp(9);
}

// Writes `s` to the host, waits until it has reported every PDU, and checks the reports:
// all of them, in wire order, and no failure.
void receive_all(Harness& h, Stream& s, Write mode, std::mt19937& rng) {
  write_stream(h, s, mode, rng);
  const size_t n = s.expected().size();
  CHECK(h.wait([&] { return h.rec.events.size() >= n; }));
  h.stop();
  check_events(h.rec.events, s.expected());
  CHECK(h.rec.failures.empty());
}

void test_streams() {
  for (int digest = 0; digest < 4; ++digest) {
    for (Write mode : {Write::kWhole, Write::kPieces}) {
      for (bool recv_pipe : {true, false}) {
        const bool hd = digest & spec::kIcDigestHeader, dd = digest & spec::kIcDigestData;
        Stream s(hd, dd);
        mixed_stream(s, uint8_t(digest));
        Harness h(hd, dd, s.buffers(), recv_pipe);
        std::mt19937 rng(uint32_t(digest * 2 + int(mode)));
        receive_all(h, s, mode, rng);
        for (auto& [cid, want] : s.data()) CHECK(h.buffers[cid] == want);
        CHECK_EQ(h.counters.digest_errors.get(), 0u);
        // After a large payload the host stages headers only, so the next large one lands in place.
        CHECK_EQ(copied_for(h.rec.events, 5, 65536), 0u);
        CHECK_EQ(copied_for(h.rec.events, 6, 0), 0u);
        for (const Event& e : h.rec.events)
          if (e.kind == Event::kData) CHECK(copied_for(h.rec.events, e.id, e.offset) <= e.length);
        // The first payload came in the host's first read, with the ICResp: copied from staging.
        if (mode == Write::kWhole && recv_pipe) CHECK_EQ(copied_for(h.rec.events, 1, 0), 512u);
        // Without the receive pipe every payload lands in place.
        if (!recv_pipe) CHECK_EQ(h.counters.bytes_copied.get(), 0u);
      }
    }
  }
}

// A wrong data digest fails the C2HData, not the connection, copied or landed in place.
void test_data_digest_errors() {
  for (Write mode : {Write::kWhole, Write::kPieces}) {
    Stream s(true, true);
    s.ic_resp(spec::kIcDigestHeader | spec::kIcDigestData);
    s.data(1, 0, 512, kLast, 0, true);
    s.resp(1);
    s.data(2, 0, 65536, kLast | kSuccess);
    s.data(3, 0, 65536, kLast, 0, true);
    s.resp(3);
    s.data(4, 0, 4096, kLast | kSuccess);
    Harness h(true, true, s.buffers());
    std::mt19937 rng(7);
    receive_all(h, s, mode, rng);
    CHECK_EQ(h.counters.digest_errors.get(), 2u);
    for (auto& [cid, want] : s.data()) CHECK(h.buffers[cid] == want);
  }
}

// The host answers a bad header with an H2CTermReq that echoes it, then fails once and
// reports nothing of what follows.
void test_bad_headers() {
  struct Case {
    const char* name;
    bool hd;
    std::function<void(Stream&)> bad;
    uint16_t fes;
    uint32_t fei;
    uint32_t echoed;
  };
  const Case cases[] = {
      {"unknown PDU type", false, [](Stream& s) { s.unknown_pdu(); },
       spec::kFesInvalidHeaderField, 0, 24},
      {"bad header digest", true, [](Stream& s) { s.resp_bad_hdgst(2); },
       spec::kFesHeaderDigestError, 0, 28},
      // The Handler refuses it: its CCCID has no buffer.
      {"C2HData for no command", true, [](Stream& s) { s.data(99, 0, 512, kLast); },
       spec::kFesInvalidHeaderField, offsetof(spec::DataPdu, cccid), 28},
  };
  for (const Case& c : cases) {
    const int failures_before = check::g_failures;
    Stream s(c.hd, false);
    s.ic_resp(c.hd ? spec::kIcDigestHeader : 0);
    s.resp(1);
    const size_t bad_at = s.size();
    c.bad(s);
    s.resp(3);
    s.data(4, 0, 512, kLast | kSuccess);
    Buffers buffers = s.buffers();
    buffers.erase(99);
    Harness h(c.hd, false, buffers);
    CHECK(tcp_controller::write_full(h.fd, s.bytes().data(), s.size()));
    CHECK(h.wait_failed());

    std::vector<uint8_t> term;
    CHECK(tcp_controller::read_to_end(h.fd, term));
    spec::TermReqPdu t{};
    CHECK_EQ(term.size(), sizeof t + c.echoed);
    std::memcpy(&t, term.data(), std::min(term.size(), sizeof t));
    CHECK_EQ(t.hdr.type, spec::kPduH2CTermReq);
    CHECK_EQ(t.hdr.hlen, sizeof t);
    CHECK_EQ(t.hdr.plen, term.size());
    CHECK_EQ(t.fes, c.fes);
    CHECK_EQ(t.fei, c.fei);
    if (term.size() == sizeof t + c.echoed)
      CHECK(std::equal(term.begin() + sizeof t, term.end(), s.bytes().begin() + bad_at));

    h.stop();
    std::vector<Event> want = s.expected(bad_at + c.echoed);
    want.push_back({Event::kFailed});
    check_events(h.rec.events, want);
    check_failed_once(h, host::kErrTransport);
    if (check::g_failures > failures_before) std::fprintf(stderr, "  (bad header: %s)\n", c.name);
  }
}

// A C2HTermReq ends the connection with the controller's reason, and no answer.
void test_c2h_term_req() {
  for (bool handshake : {false, true}) {
    Stream s(false, false);
    if (!handshake) {
      s.ic_resp(0);
      s.resp(1);
    }
    s.term_req(spec::kFesPduSequenceError, 24);
    s.resp(2);
    Harness h(false, false, {});
    CHECK(tcp_controller::write_full(h.fd, s.bytes().data(), s.size()));
    CHECK(h.wait_failed());
    std::vector<uint8_t> answer;
    CHECK(tcp_controller::read_to_end(h.fd, answer));
    CHECK(answer.empty());
    h.stop();
    std::vector<Event> want =
        handshake ? std::vector<Event>{} : s.expected(sizeof(spec::IcRespPdu) + 24);
    want.push_back({Event::kFailed});
    check_events(h.rec.events, want);
    check_failed_once(h, host::kErrTransport);
    const std::string msg = h.rec.failures.empty() ? "" : h.rec.failures[0].message;
    CHECK(msg.find("terminated the connection (C2HTermReq): PDU sequence error") != std::string::npos);
  }
}

// The controller closing at any point of any PDU part: the host reports each PDU (or
// C2HData header) it had whole, fails once, and reports nothing after.
void test_close_mid_pdu() {
  for (bool digests : {false, true}) {
    Stream s(digests, digests);
    s.ic_resp(digests ? spec::kIcDigestHeader | spec::kIcDigestData : 0);
    s.resp(1);
    s.data(2, 0, 512, kLast, 8);
    const size_t large = s.size();
    s.data(3, 0, 16384, kLast);  // large: the host stages headers only after it
    s.r2t(4, 1, 0, 4096);
    s.data(5, 0, 100, kLast | kSuccess);
    std::vector<size_t> cuts;
    for (size_t m : s.marks())
      for (size_t at : {m - 1, m, m + 1})
        if (at <= s.size()) cuts.push_back(at);
    cuts.push_back(large + 10000);  // well into the large payload
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

    for (size_t i = 0; i < cuts.size(); ++i) {
      const size_t cut = cuts[i];
      const int failures_before = check::g_failures;
      Harness h(digests, digests, s.buffers());
      // Either the end of the stream comes with its last bytes, or after the host read them.
      const bool with_data = i % 2 == 0;
      if (with_data) h.hold();
      CHECK(tcp_controller::write_full(h.fd, s.bytes().data(), cut));
      if (!with_data) CHECK(h.wait_received(cut));
      ::close(h.fd);
      h.fd = -1;
      if (with_data) h.release();
      CHECK(h.wait_failed());
      h.stop();
      std::vector<Event> want = s.expected(cut);
      want.push_back({Event::kFailed});
      check_events(h.rec.events, want);
      check_failed_once(h, cut < sizeof(spec::IcRespPdu) ? host::kErrConnect
                                                          : host::kErrDisconnected);
      if (check::g_failures > failures_before)
        std::fprintf(stderr, "  (closed after %zu of %zu bytes)\n", cut, s.size());
    }
  }
}

// The controller declining a digest the host asked for fails the connect.
void test_digest_declined() {
  Harness h(true, true, {});
  spec::IcRespPdu resp = tcp_controller::ic_resp(spec::kIcDigestData);
  CHECK(tcp_controller::write_full(h.fd, &resp, sizeof resp));
  CHECK(h.wait_failed());
  h.stop();
  check_events(h.rec.events, std::vector<Event>{Event{Event::kFailed}});
  check_failed_once(h, host::kErrConnect);
  const std::string msg = h.rec.failures.empty() ? "" : h.rec.failures[0].message;
  CHECK(msg.find("declined the header digest") != std::string::npos);
}

}  // namespace

int main() {
  test_streams();
  test_data_digest_errors();
  test_bad_headers();
  test_c2h_term_req();
  test_close_mid_pdu();
  test_digest_declined();
  CHECK_EQ(TcpConnection::open_sockets(), 0u);
  return check::report("test_host_tcp_connection");
}
