// libFuzzer target for the NVMe/TCP receive-side parsing in native/spec:
// header validation, capsule SGL decoding and in-capsule bounds.
//
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined \
//          -Inative test/native/fuzz_tcp_pdu.cc
// (scripts/test-native.sh does this when FUZZ_SECONDS is set.)
#if !defined(__clang__)
#error "fuzz_tcp_pdu.cc is a libFuzzer target: build it with clang++ -fsanitize=fuzzer"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "spec/fabrics.h"
#include "spec/tcp_pdu.h"

using namespace rdmagate::spec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // First byte picks the connection parameters, the rest is the stream.
  if (size < 1) return 0;
  const uint8_t cfg = data[0];
  const bool hdgst = cfg & 0x01;
  const bool ddgst = cfg & 0x02;
  const uint8_t pda = (cfg >> 2) & 0x3;
  const Direction dir = (cfg & 0x10) ? Direction::ControllerToHost : Direction::HostToController;
  const uint32_t maxh2cdata = (cfg & 0x20) ? 4096 : 131072;
  const uint8_t* buf = data + 1;
  const size_t len = size - 1;

  PduError err;
  if (check_pdu(buf, len, hdgst, ddgst, pda, maxh2cdata, dir, err) != PduCheck::Ok) {
    if (!err.ok()) {
      TermReqPdu term = make_term_req(dir, err, uint32_t(len));
      if (term.hdr.plen > kTermReqMaxLen) __builtin_trap();
    }
    return 0;
  }

  CommonHeader h;
  std::memcpy(&h, buf, sizeof(h));
  if (h.type != kPduCapsuleCmd) return 0;
  const uint32_t header_len = pdu_header_length(h, hdgst);

  // Decode the command's data pointer the way the target's receive path does.
  CapsuleCmdPdu cmd;
  std::memcpy(&cmd, buf, sizeof(cmd));
  const uint32_t icd_len = h.pdo ? h.plen - h.pdo - (ddgst ? kTcpDigestLen : 0) : 0;
  if (h.pdo && (h.pdo < header_len || icd_len > maxh2cdata)) __builtin_trap();
  const DataSgl sgl = decode_data_sgl(cmd.sqe.dptr.sgl);
  const Status st = check_incapsule_sgl(sgl, icd_len);
  if (st.ok() && (sgl.addr > icd_len || sgl.length > icd_len - sgl.addr)) __builtin_trap();
  (void)status_name(st);
  if (cmd.sqe.opcode == kOpcodeFabrics) {
    FabricsCommand f;
    std::memcpy(&f, &cmd.sqe, sizeof(f));
    if (f.fctype == kFctConnect && st.ok() && sgl.length >= sizeof(ConnectData) &&
        h.pdo + sgl.addr + sizeof(ConnectData) <= len) {
      ConnectData cd;
      std::memcpy(&cd, buf + h.pdo + sgl.addr, sizeof(cd));
      (void)valid_nqn(field_view(cd.subnqn));
      (void)valid_nqn(field_view(cd.hostnqn));
    }
  }
  return 0;
}
