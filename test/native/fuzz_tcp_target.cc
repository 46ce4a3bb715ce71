// libFuzzer target over the target's whole NVMe/TCP receive path: the bytes go down a
// socketpair into a real TcpQpair on a real reactor, in front of a RAM namespace. What
// must hold for any input: no crash, no sanitizer finding, and the connection ends
// (the target answers or terminates; it never hangs).
//
// With the first input byte even, a valid ICReq and admin Connect come first, so the
// fuzzer spends its time past the handshake.
// test-sources: native/target/target.cc native/target/transport.cc native/target/subsystem.cc native/target/ana_states.cc native/target/controller.cc native/target/qpair.cc native/target/fabrics_commands.cc native/target/admin_commands.cc native/target/io_commands.cc native/target/discovery_log.cc native/transport/tcp/tcp_listener.cc native/transport/tcp/tcp_qpair.cc native/tcp/pdu_stream.cc native/bdev/ram_bdevs.cc native/mem/buffer_pool.cc native/reactor/reactor.cc native/auth/crypto.cc native/auth/key_text.cc native/auth/dhchap_secret.cc native/auth/dhchap_response.cc native/auth/dhchap_policy.cc native/auth/dhchap_controller.cc native/tls/psk.cc native/tls/tls_session.cc
#if !defined(__clang__)
#error "fuzz_tcp_target.cc is a libFuzzer target: build it with clang++ -fsanitize=fuzzer"
#endif

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "bdev/bdev.h"
#include "spec/fabrics.h"
#include "spec/tcp_pdu.h"
#include "target/target.h"
#include "transport/tcp/tcp_qpair.h"

using namespace rdmagate;

namespace {

constexpr const char* kNqn = "nqn.2026-11.io.rdmagate:fuzz";

target::Target& fuzz_target() {
  static target::Target* t = [] {
    target::TargetOptions o;
    o.reactors = 1;
    o.buffer_pool_bytes = 8u << 20;
    auto* t = new target::Target(o);
    uint8_t id[16] = {1};
    t->add_subsystem(kNqn, "FUZZ0001", "fuzz", target::Subsystem::Options{4})->add_namespace(1, bdev::make_malloc_bdev("M", 256, 512), id, id);
    return t;
  }();
  return *t;
}

std::vector<uint8_t> handshake() {
  std::vector<uint8_t> out(sizeof(spec::IcReqPdu) + sizeof(spec::CapsuleCmdPdu) + sizeof(spec::ConnectData));
  spec::IcReqPdu ic{};
  ic.hdr = {spec::kPduIcReq, 0, sizeof ic, 0, sizeof ic};
  memcpy(out.data(), &ic, sizeof ic);
  spec::CapsuleCmdPdu cmd{};
  uint32_t plen = sizeof cmd + sizeof(spec::ConnectData);
  cmd.hdr = {spec::kPduCapsuleCmd, 0, sizeof cmd, sizeof cmd, plen};
  auto& c = reinterpret_cast<spec::ConnectCommand&>(cmd.sqe);
  c.opcode = spec::kOpcodeFabrics;
  c.fctype = spec::kFctConnect;
  c.sgl = spec::make_incapsule_sgl(0, sizeof(spec::ConnectData));
  c.sqsize = 31;
  memcpy(out.data() + sizeof ic, &cmd, sizeof cmd);
  spec::ConnectData d{};
  d.cntlid = spec::kCntlidDynamic;
  strcpy(d.subnqn, kNqn);
  strcpy(d.hostnqn, "nqn.2014-08.org.nvmexpress:uuid:6f1f3c1e-8d0b-4b53-9d2e-0c6b1f0a7a11");
  memcpy(out.data() + sizeof ic + sizeof cmd, &d, sizeof d);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<uint8_t> input;
  if ((data[0] & 1) == 0) input = handshake();
  input.insert(input.end(), data + 1, data + size);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  target::Target& t = fuzz_target();
  Reactor& r = t.reactor(0);
  int fd = sv[0];
  r.post([&t, &r, fd] { tcp::TcpQpair::start(t, r, fd, 1, false, nullptr); });

  // Feed the input and drain the answers until the target closes or goes quiet.
  size_t sent = 0;
  bool write_closed = false;
  uint8_t sink[65536];
  for (int idle = 0; idle < 20;) {
    pollfd p{sv[1], short(POLLIN | (write_closed ? 0 : POLLOUT)), 0};
    if (poll(&p, 1, 50) <= 0) {
      ++idle;
      continue;
    }
    if (p.revents & POLLIN) {
      ssize_t n = read(sv[1], sink, sizeof sink);
      if (n == 0) break;  // the target closed the connection
      if (n < 0 && errno != EAGAIN) break;
    }
    if (!write_closed && (p.revents & POLLOUT)) {
      ssize_t n = send(sv[1], input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += size_t(n);
      if (n < 0 && errno != EAGAIN) write_closed = true;
      if (sent == input.size()) {
        shutdown(sv[1], SHUT_WR);
        write_closed = true;
      }
    }
    if (p.revents & (POLLHUP | POLLERR)) break;
  }
  close(sv[1]);
  return 0;
}
