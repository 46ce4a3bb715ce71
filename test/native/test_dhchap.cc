// DH-HMAC-CHAP: secrets in their DHHC-1 form, and whole exchanges between our host's and
// our controller's state machines for every hash, the NULL and FFDHE groups, one- and
// two-way, with the refusals: a wrong key either way, a replayed or truncated message,
// a host out of step. Linux as the other end is the lab's job (test/lab-auth).
// test-sources: native/auth/crypto.cc native/auth/key_text.cc native/auth/dhchap_secret.cc native/auth/dhchap_response.cc native/auth/dhchap_policy.cc native/auth/dhchap_controller.cc native/auth/dhchap_host.cc
#include <openssl/evp.h>

#include <cstring>
#include <string>
#include <vector>

#include "auth/dhchap_controller.h"
#include "auth/dhchap_host.h"
#include "auth/dhchap_policy.h"
#include "check.h"
#include "spec/auth.h"
#include "util/crc32.h"
#include "util/error.h"

using namespace rdmagate;
using namespace rdmagate::auth;
using namespace rdmagate::spec;

namespace {

const std::string kHost = "nqn.2014-08.org.nvmexpress:uuid:0c9f4f4e-0000-4000-8000-000000000001";
const std::string kSub = "nqn.2016-06.io.rdmagate:auth";

std::string make_secret(uint8_t hash, size_t len, uint8_t fill) {
  std::vector<uint8_t> raw(len);
  for (size_t i = 0; i < len; ++i) raw[i] = uint8_t(fill + i * 7);
  uint32_t crc = util::crc32(raw.data(), len);
  for (int i = 0; i < 4; ++i) raw.push_back(uint8_t(crc >> (8 * i)));
  std::string b64(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&b64[0]), raw.data(), int(raw.size()));
  b64.resize(size_t(n));
  return "DHHC-1:0" + std::to_string(hash) + ":" + b64 + ":";
}

std::string error_code(const std::string& text) {
  try {
    DhchapSecret::parse(text);
  } catch (const Error& e) {
    CHECK(e.what() == std::string(e.what()));
    return e.code();
  }
  return "";
}

void test_secrets() {
  const uint8_t digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  CHECK_EQ(util::crc32(digits, 9), 0xcbf43926u);  // the CRC-32 check value
  for (uint8_t hash = 0; hash <= 3; ++hash)
    for (size_t len : {32, 48, 64}) {
      auto s = DhchapSecret::parse(make_secret(hash, len, 1));
      CHECK_EQ(s->hash(), hash);
      CHECK_EQ(s->size(), len);
      // The transform: the key itself for 00, an HMAC as long as the hash for the others.
      CHECK_EQ(s->transform(kHost).size(), hash ? hash_length(hash) : len);
      CHECK(s->transform(kHost) != s->transform(kSub) || hash == 0);
    }
  std::string good = make_secret(1, 32, 1);
  CHECK_EQ(error_code(good.substr(0, good.size() - 1)), "");  // the trailing colon is optional
  CHECK_EQ(error_code("DHHC-2" + good.substr(6)), "ERR_INVALID_KEY");
  CHECK_EQ(error_code("DHHC-1:04" + good.substr(9)), "ERR_INVALID_KEY");
  CHECK_EQ(error_code(good.substr(0, 20)), "ERR_INVALID_KEY");
  std::string flipped = good;
  flipped[12] = flipped[12] == 'A' ? 'B' : 'A';  // breaks the CRC
  CHECK_EQ(error_code(flipped), "ERR_INVALID_KEY");
  std::string not_b64 = good;
  not_b64[12] = '*';
  CHECK_EQ(error_code(not_b64), "ERR_INVALID_KEY");
  // The message says what is wrong and never shows the secret.
  try {
    DhchapSecret::parse(flipped);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find(flipped.substr(10, 20)) == std::string::npos);
  }
}

struct Exchange {
  bool controller_ok = false, host_ok = false;
  uint8_t controller_failure = 0;
  bool failure_from_host = false;
  std::string host_error;
};

DhchapPolicy only(uint8_t hash, uint8_t group) {
  DhchapPolicy p;
  p.digests = {hash};
  p.dhgroups = {group};
  return p;
}

// One transaction through both state machines, as the queue pairs run it.
Exchange run(DhchapController& ctl, DhchapHost& host) {
  Exchange x;
  std::vector<uint8_t> buf(DhchapHost::kReceiveLength);
  auto neg = host.negotiate();
  ctl.on_send(neg.data(), neg.size());
  CHECK(ctl.on_receive(buf.data(), buf.size()));
  auto reply = host.reply(buf.data(), buf.size());
  if (!reply.empty()) {
    ctl.on_send(reply.data(), reply.size());
    CHECK(ctl.on_receive(buf.data(), buf.size()));
    x.host_ok = host.success1(buf.data(), buf.size());
    if (x.host_ok && host.success2_needed()) {
      auto s2 = host.success2();
      ctl.on_send(s2.data(), s2.size());
    }
  }
  auto f2 = host.failure2();
  if (!f2.empty()) ctl.on_send(f2.data(), f2.size());
  x.controller_ok = ctl.authenticated();
  x.controller_failure = ctl.failure();
  x.failure_from_host = ctl.failure_from_host();
  x.host_error = host.error();
  return x;
}

void test_exchanges() {
  auto hkey = DhchapSecret::parse(make_secret(1, 32, 3));
  auto ckey = DhchapSecret::parse(make_secret(3, 64, 9));
  for (uint8_t hash : {kHashSha256, kHashSha384, kHashSha512})
    for (uint8_t group : {kDhNull, kDhFfdhe2048, kDhFfdhe3072, kDhFfdhe4096, kDhFfdhe6144, kDhFfdhe8192})
      for (bool both_ways : {false, true}) {
        if (group > kDhFfdhe3072 && hash != kHashSha512) continue;  // the big groups once each
        DhchapController ctl([&] { return DhchapKeys{hkey, ckey}; }, only(hash, group), kHost, kSub);
        DhchapHost host(hkey, both_ways ? ckey : nullptr, kHost, kSub, 7);
        Exchange x = run(ctl, host);
        CHECK(x.controller_ok);
        CHECK(x.host_ok);
        CHECK_EQ(x.host_error, "");
        CHECK_EQ(ctl.bidirectional(), both_ways);
        CHECK_EQ(host.hash(), hash);
        CHECK_EQ(host.dhgroup(), group);
      }
  // The controller's preference picks among what the host offers: strongest first.
  DhchapController ctl([&] { return DhchapKeys{hkey, nullptr}; }, DhchapPolicy{}, kHost, kSub);
  DhchapHost host(hkey, nullptr, kHost, kSub, 1);
  CHECK(run(ctl, host).controller_ok);
  CHECK_EQ(host.hash(), kHashSha512);
  CHECK_EQ(host.dhgroup(), kDhFfdhe8192);
}

// Negotiate, and the Challenge fetched into `buf`: where the refusals below start. Returns
// the Negotiate, for the tests that send it again.
Bytes to_challenge(DhchapController& ctl, DhchapHost& host, std::vector<uint8_t>& buf) {
  auto neg = host.negotiate();
  ctl.on_send(neg.data(), neg.size());
  ctl.on_receive(buf.data(), buf.size());
  return neg;
}

void test_refusals() {
  auto hkey = DhchapSecret::parse(make_secret(1, 32, 3));
  auto other = DhchapSecret::parse(make_secret(1, 32, 4));
  auto ckey = DhchapSecret::parse(make_secret(2, 48, 9));
  auto policy = only(kHashSha256, kDhFfdhe2048);
  {  // the host's key is wrong: Failure1, and the host says why
    DhchapController ctl([&] { return DhchapKeys{hkey, nullptr}; }, policy, kHost, kSub);
    DhchapHost host(other, nullptr, kHost, kSub, 1);
    Exchange x = run(ctl, host);
    CHECK(!x.controller_ok);
    CHECK(!x.host_ok);
    CHECK_EQ(x.controller_failure, kAuthFailed);
    CHECK(x.host_error.find("refused") != std::string::npos);
  }
  {  // the right key, computed for another host NQN
    DhchapController ctl([&] { return DhchapKeys{hkey, nullptr}; }, policy, kHost, kSub);
    DhchapHost host(hkey, nullptr, kHost + "x", kSub, 1);
    CHECK(!run(ctl, host).controller_ok);
  }
  {  // the controller's key is wrong: the host refuses it with Failure2
    DhchapController ctl([&] { return DhchapKeys{hkey, other}; }, policy, kHost, kSub);
    DhchapHost host(hkey, ckey, kHost, kSub, 1);
    Exchange x = run(ctl, host);
    CHECK(!x.host_ok);
    CHECK(!x.controller_ok);
    CHECK(x.failure_from_host);
    CHECK(x.host_error.find("did not verify") != std::string::npos);
  }
  {  // two-way asked of a controller with no controller key
    DhchapController ctl([&] { return DhchapKeys{hkey, nullptr}; }, policy, kHost, kSub);
    DhchapHost host(hkey, ckey, kHost, kSub, 1);
    CHECK(!run(ctl, host).controller_ok);
  }
  {  // no key for this host: nothing to authenticate with
    DhchapController ctl([] { return DhchapKeys{}; }, policy, kHost, kSub);
    DhchapHost host(hkey, nullptr, kHost, kSub, 1);
    Exchange x = run(ctl, host);
    CHECK(!x.controller_ok);
    CHECK_EQ(x.controller_failure, kAuthNotUsable);
  }
  {  // a replayed Reply after success, and a truncated one in a new transaction
    DhchapController ctl([&] { return DhchapKeys{hkey, nullptr}; }, policy, kHost, kSub);
    DhchapHost host(hkey, nullptr, kHost, kSub, 1);
    std::vector<uint8_t> buf(DhchapHost::kReceiveLength);
    auto neg = to_challenge(ctl, host, buf);
    auto reply = host.reply(buf.data(), buf.size());
    ctl.on_send(reply.data(), reply.size());
    ctl.on_receive(buf.data(), buf.size());
    CHECK(ctl.authenticated());
    ctl.on_send(reply.data(), reply.size());
    CHECK(!ctl.authenticated());
    CHECK_EQ(ctl.failure(), kAuthIncorrectProtocolMessage);
    // Once failed, the queue stays refused: a new Negotiate starts nothing.
    ctl.on_send(neg.data(), neg.size());
    CHECK(ctl.on_receive(buf.data(), buf.size()));
    CHECK_EQ(buf[1], kAuthFailure1);
  }
  {
    DhchapController ctl([&] { return DhchapKeys{hkey, nullptr}; }, policy, kHost, kSub);
    DhchapHost host(hkey, nullptr, kHost, kSub, 1);
    std::vector<uint8_t> buf(DhchapHost::kReceiveLength);
    to_challenge(ctl, host, buf);
    auto reply = host.reply(buf.data(), buf.size());
    ctl.on_send(reply.data(), reply.size() - 10);
    CHECK(!ctl.authenticated());
    CHECK_EQ(ctl.failure(), kAuthIncorrectPayload);
  }
  {  // a Receive buffer too small for the Challenge changes nothing
    DhchapController ctl([&] { return DhchapKeys{hkey, nullptr}; }, policy, kHost, kSub);
    DhchapHost host(hkey, nullptr, kHost, kSub, 1);
    std::vector<uint8_t> buf(DhchapHost::kReceiveLength);
    auto neg = host.negotiate();
    ctl.on_send(neg.data(), neg.size());
    CHECK(!ctl.on_receive(buf.data(), 64));
    CHECK(ctl.on_receive(buf.data(), buf.size()));
    CHECK(!host.reply(buf.data(), buf.size()).empty());
  }
  {  // a host that fetches before it negotiates, and an unknown message
    DhchapController ctl([&] { return DhchapKeys{hkey, nullptr}; }, policy, kHost, kSub);
    std::vector<uint8_t> buf(64);
    CHECK(ctl.on_receive(buf.data(), buf.size()));
    CHECK_EQ(buf[1], kAuthFailure1);
    CHECK_EQ(ctl.failure(), kAuthIncorrectProtocolMessage);
  }
  {  // the host refuses a Challenge with a hash it did not offer
    DhchapController ctl([&] { return DhchapKeys{hkey, nullptr}; }, policy, kHost, kSub);
    DhchapHost host(hkey, nullptr, kHost, kSub, 1);
    std::vector<uint8_t> buf(DhchapHost::kReceiveLength);
    to_challenge(ctl, host, buf);
    buf[10] = 9;  // HashID
    CHECK(host.reply(buf.data(), buf.size()).empty());
    CHECK(!host.failure2().empty());
  }
  {  // a refused Challenge after a good one leaves nothing of either for a Success1 (the
     // fuzzer found a refused hash id kept, and a Success1 then computed with it)
    DhchapController ctl([&] { return DhchapKeys{hkey, hkey}; }, policy, kHost, kSub);
    DhchapHost host(hkey, hkey, kHost, kSub, 1);
    std::vector<uint8_t> buf(DhchapHost::kReceiveLength);
    to_challenge(ctl, host, buf);
    CHECK(!host.reply(buf.data(), buf.size()).empty());
    buf[10] = 7;  // HashID
    CHECK(host.reply(buf.data(), buf.size()).empty());
    DhchapSuccess1 s{};
    s.auth_type = kAuthDhchapMessages;
    s.auth_id = kDhchapSuccess1;
    s.t_id = 1;
    s.rvalid = 1;
    CHECK(!host.success1(reinterpret_cast<const uint8_t*>(&s), sizeof s));
    CHECK(host.error().find("before") != std::string::npos);
  }
  {  // a Success1 with no Challenge before it
    DhchapHost host(hkey, nullptr, kHost, kSub, 1);
    DhchapSuccess1 s{};
    s.auth_type = kAuthDhchapMessages;
    s.auth_id = kDhchapSuccess1;
    s.t_id = 1;
    CHECK(!host.success1(reinterpret_cast<const uint8_t*>(&s), sizeof s));
  }
}

void test_policy_names() {
  CHECK_EQ(digest_id("sha384"), kHashSha384);
  CHECK_EQ(dhgroup_id("ffdhe6144"), kDhFfdhe6144);
  CHECK_EQ(dhgroup_id("null"), kDhNull);
  bool threw = false;
  try {
    digest_id("md5");
  } catch (const Error& e) {
    threw = e.code() == "ERR_INVALID_ARG";
  }
  CHECK(threw);
}

}  // namespace

int main() {
  test_secrets();
  test_exchanges();
  test_refusals();
  test_policy_names();
  return check::report("test_dhchap");
}
