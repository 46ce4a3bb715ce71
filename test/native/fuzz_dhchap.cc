// libFuzzer target for the DH-HMAC-CHAP message parsers on both sides: the controller's
// (Authentication Send data from a host, in any order, against a started transaction)
// and the host's (a controller's Challenge and Success1). Nothing may read out of bounds,
// and a controller never ends authenticated by a peer that does not hold the key.
// test-sources: native/auth/crypto.cc native/auth/key_text.cc native/auth/dhchap_secret.cc native/auth/dhchap_response.cc native/auth/dhchap_policy.cc native/auth/dhchap_controller.cc native/auth/dhchap_host.cc
#if !defined(__clang__)
#error "fuzz_dhchap.cc is a libFuzzer target: build it with clang++ -fsanitize=fuzzer"
#endif

#include <cstdlib>
#include <vector>

#include "auth/dhchap_controller.h"
#include "auth/dhchap_host.h"
#include "spec/auth.h"

using namespace rdmagate::auth;
using namespace rdmagate::spec;

namespace {

const char kHost[] = "nqn.2014-08.org.nvmexpress:uuid:fuzz";
const char kSub[] = "nqn.2016-06.io.rdmagate:fuzz";
// A fixed secret (32 bytes of 0x01, its CRC-32): the fuzzer cannot know it from the input.
const char kSecret[] = "DHHC-1:00:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQHMnzFi:";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static SecretRef key = DhchapSecret::parse(kSecret);
  if (size < 1) return 0;
  DhchapPolicy policy;
  // The NULL group mostly: a DH key per input would starve the fuzzer.
  policy.dhgroups = data[0] & 1 ? std::vector<uint8_t>{kDhFfdhe2048} : std::vector<uint8_t>{kDhNull};
  DhchapController ctl([] { return DhchapKeys{key, key}; }, policy, kHost, kSub);
  DhchapHost host(key, key, kHost, kSub, 0);
  std::vector<uint8_t> out(DhchapHost::kReceiveLength);
  // Records: [op][len lo][len hi][bytes]. op bit 0: a Send to the controller (else a
  // Receive of len bytes); bit 1: also hand the bytes to the host's parsers.
  size_t i = 1;
  while (i + 3 <= size) {
    uint8_t op = data[i];
    size_t len = size_t(data[i + 1]) | size_t(data[i + 2]) << 8;
    i += 3;
    if (len > size - i) len = size - i;
    const uint8_t* p = data + i;
    i += len;
    if (op & 1) {
      ctl.on_send(p, len);
    } else {
      ctl.on_receive(out.data(), len < out.size() ? len : out.size());
    }
    if (op & 2) {
      host.reply(p, len);
      host.success1(p, len);
    }
    // Authenticated needs R1 computed with the key over a C1 the fuzzer never saw.
    if (ctl.authenticated()) std::abort();
  }
  return 0;
}
