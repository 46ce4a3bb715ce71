// NVMe/TCP PSKs: the interchange form, PSK identities, and the TLS PSK derived for one
// host and subsystem, against known answers from Linux's own tools: nvme-cli 2.13 and
// libnvme 1.13 in the lab's Debian trixie guest, the keys `nvme gen-tls-key --insert` put in
// the .nvme keyring for tlshd (recorded by scripts/lab-tls-smoke.sh in
// test/fixtures/tls-psk-vectors.json).
// test-sources: native/auth/crypto.cc native/auth/key_text.cc native/tls/psk.cc
#include <string>

#include "check.h"
#include "tls/psk.h"
#include "util/error.h"

using namespace rdmagate;
using namespace rdmagate::tls;

namespace {

const std::string kHost = "nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
const std::string kSub = "nqn.2024-01.io.rdmagate:kat";

std::string hex(const Bytes& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) s += std::string{d[c >> 4], d[c & 15]};
  return s;
}

struct Vector {
  const char* interchange;
  int version;
  const char* identity;
  const char* tls_psk;
};

// Keys 00 01 02 ... (32 or 48 bytes).
const Vector kVectors[] = {
    {"NVMeTLSkey-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", 0,
     "NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6 nqn.2024-01.io.rdmagate:kat",
     "317399a6483703f0078694db6b67fc7e69933c93a9804b043664f3fd7e54b1f5"},
    {"NVMeTLSkey-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", 1,
     "NVMe1R01 nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6 nqn.2024-01.io.rdmagate:kat "
     "e7zlBBIpPWEuPMMNJbw99xGlOZbR7Ym/Q31Uv3QlD68=",
     "64f6b8959533c4c93ddd2a21db381a3ace30c3db802e607c6bba566165f7ff5a"},
    {"NVMeTLSkey-1:02:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vcSEgBQ==:", 0,
     "NVMe0R02 nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6 nqn.2024-01.io.rdmagate:kat",
     "13468274bbdd6f7e106f75d98051caf2c5dff3385be61a9978d2b587801b58085dd9c4a2f8d5a0a27b6f6aba5f81a50a"},
    {"NVMeTLSkey-1:02:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vcSEgBQ==:", 1,
     "NVMe1R02 nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6 nqn.2024-01.io.rdmagate:kat "
     "/cVDOyIQQ1PntC6J0izt1HyYQ9/tAWEhh4xHNmQoemyr6eJsEwjHOfcZwS2CXB9M",
     "a1627cd4e327752e6a61a84bfaea279281fb82b13e599250533c9ef0c78badda5667eeff113a02b473d4cc57696dce9a"},
};

void known_answers() {
  for (const Vector& v : kVectors) {
    PskRef psk = ConfiguredPsk::parse(v.interchange);
    TlsPsk d = psk->derive(kHost, kSub, v.version);
    CHECK_EQ(d.identity, std::string(v.identity));
    CHECK_EQ(hex(d.key), std::string(v.tls_psk));
    std::optional<PskIdentity> id = parse_identity(d.identity);
    CHECK(id.has_value());
    if (id) {
      CHECK_EQ(id->version, v.version);
      CHECK_EQ(id->hash, psk->hash());
      CHECK_EQ(id->hostnqn, kHost);
      CHECK_EQ(id->subnqn, kSub);
    }
  }
}

void interchange_form() {
  Bytes key(32);
  for (size_t i = 0; i < key.size(); ++i) key[i] = uint8_t(i);
  CHECK_EQ(encode_interchange(1, key), std::string(kVectors[0].interchange));
  PskRef none = ConfiguredPsk::parse(encode_interchange(0, Bytes(48, 7)));
  CHECK_EQ(none->hmac(), 0);
  CHECK_EQ(none->hash(), kPskSha384);  // an untransformed key's length names its hash
  // The configured PSK used as it is (hh 00): another TLS PSK than the transformed one.
  CHECK(ConfiguredPsk::parse(encode_interchange(0, key))->derive(kHost, kSub, 0).key !=
        ConfiguredPsk::parse(encode_interchange(1, key))->derive(kHost, kSub, 0).key);

  auto refused = [](const std::string& text) {
    try {
      ConfiguredPsk::parse(text);
    } catch (const Error& e) {
      // Never the key in the message.
      return std::string(e.code()) == "ERR_INVALID_KEY" && std::string(e.what()).find(text.substr(16, 12)) == std::string::npos;
    }
    return false;
  };
  std::string good = kVectors[0].interchange;
  CHECK(refused("DHHC-1:01:" + good.substr(16)));                  // another key kind
  CHECK(refused(good.substr(0, good.size() - 6) + "AAAA:"));       // CRC-32 off
  CHECK(refused(encode_interchange(3, key)));                      // no hash 03 for TLS
  CHECK(refused(encode_interchange(2, key)));                      // SHA-384 takes 48 bytes
  CHECK(refused(encode_interchange(1, Bytes(48, 1))));             // SHA-256 takes 32
  CHECK(refused(encode_interchange(1, Bytes(64, 1))));
  CHECK(refused("NVMeTLSkey-1:01:not*base64*at*all*but*long*enough*xxxxxxxxxxxx:"));
}

void identities() {
  CHECK(!parse_identity("").has_value());
  CHECK(!parse_identity("NVMe0R01 " + kHost).has_value());                    // no subsystem
  CHECK(!parse_identity("NVMe0R03 " + kHost + " " + kSub).has_value());       // no such hash
  CHECK(!parse_identity("NVMe2R01 " + kHost + " " + kSub).has_value());       // no such version
  CHECK(!parse_identity("NVMe1R01 " + kHost + " " + kSub).has_value());       // version 1 needs its digest
  CHECK(!parse_identity("NVMe0R01 " + kHost + " " + kSub + " x").has_value());  // version 0 has none
  CHECK(!parse_identity("NVMe0G01 " + kHost + " " + kSub).has_value());       // generated PSKs: not ours
  CHECK(!parse_identity("NVMe0R01  " + kSub).has_value());
  CHECK(parse_identity("NVMe0R02 " + kHost + " " + kSub).has_value());
}

}  // namespace

int main() {
  known_answers();
  interchange_form();
  identities();
  return check::report("test_tls_psk");
}
