#include "auth/dhchap_response.h"

#include "spec/auth.h"

namespace rdmagate::auth {

namespace {

Bytes augmented(const Transaction& t, const uint8_t* challenge) {
  size_t hl = spec::hash_length(t.hash);
  if (!t.session_key) return Bytes(challenge, challenge + hl);
  Bytes hashed = digest(t.hash, t.session_key->data(), t.session_key->size());
  Bytes out = Hmac(t.hash, hashed.data(), hashed.size()).update(challenge, hl).final();
  wipe(hashed);
  return out;
}

Bytes response(const Transaction& t, const Bytes& key, const uint8_t* challenge, uint32_t seqnum,
               const char* role, size_t role_len, const std::string& first_nqn, const std::string& second_nqn) {
  Bytes ca = augmented(t, challenge);
  const uint8_t seq[4] = {uint8_t(seqnum), uint8_t(seqnum >> 8), uint8_t(seqnum >> 16), uint8_t(seqnum >> 24)};
  const uint8_t tid[2] = {uint8_t(t.tid), uint8_t(t.tid >> 8)};
  const uint8_t zero = 0;  // SC_C: no secure channel concatenation; then the NQNs' separator
  return Hmac(t.hash, key.data(), key.size())
      .update(ca.data(), ca.size())
      .update(seq, sizeof seq)
      .update(tid, sizeof tid)
      .update(&zero, 1)
      .update(role, role_len)
      .update(first_nqn.data(), first_nqn.size())
      .update(&zero, 1)
      .update(second_nqn.data(), second_nqn.size())
      .final();
}

}  // namespace

Bytes host_response(const Transaction& t, const DhchapSecret& host_key, const uint8_t* c1, uint32_t s1,
                    const std::string& hostnqn, const std::string& subnqn) {
  Bytes key = host_key.transform(hostnqn);
  Bytes r = response(t, key, c1, s1, "HostHost", 8, hostnqn, subnqn);
  wipe(key);
  return r;
}

Bytes controller_response(const Transaction& t, const DhchapSecret& ctrl_key, const uint8_t* c2, uint32_t s2,
                          const std::string& subnqn, const std::string& hostnqn) {
  Bytes key = ctrl_key.transform(subnqn);
  Bytes r = response(t, key, c2, s2, "Controller", 10, subnqn, hostnqn);
  wipe(key);
  return r;
}

}  // namespace rdmagate::auth
