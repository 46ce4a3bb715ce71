#include "auth/dhchap_host.h"

#include <cstring>

#include "auth/dhchap_policy.h"
#include "auth/dhchap_response.h"
#include "auth/message.h"
#include "spec/auth.h"
#include "util/error.h"

namespace rdmagate::auth {

using namespace spec;

namespace {

// Everything this host can compute, offered as Linux's host does.
constexpr uint8_t kOfferedHashes[] = {kHashSha256, kHashSha384, kHashSha512};
constexpr uint8_t kOfferedGroups[] = {kDhNull, kDhFfdhe2048, kDhFfdhe3072, kDhFfdhe4096, kDhFfdhe6144, kDhFfdhe8192};

}  // namespace

DhchapHost::DhchapHost(SecretRef host_key, SecretRef ctrlr_key, std::string hostnqn, std::string subnqn, uint16_t tid)
    : host_key_(std::move(host_key)), ctrlr_key_(std::move(ctrlr_key)), hostnqn_(std::move(hostnqn)),
      subnqn_(std::move(subnqn)), tid_(tid) {}

DhchapHost::~DhchapHost() {
  wipe(c2_);
  wipe(session_key_);
}

bool DhchapHost::failed(std::string why, uint8_t explanation) {
  error_ = std::move(why);
  explanation_ = explanation;
  replied_ = false;
  bidirectional_ = false;
  wipe(c2_);
  wipe(session_key_);
  return false;
}

bool DhchapHost::controller_failure(const uint8_t* data, size_t len) {
  if (len < sizeof(AuthFailure) || data[0] != kAuthCommonMessages || data[1] != kAuthFailure1) return false;
  failed(std::string("the controller refused authentication: ") + spec::auth_failure_explanation(read_message<AuthFailure>(data).rescode_exp), 0);
  return true;
}

Bytes DhchapHost::negotiate() const {
  AuthNegotiate n{};
  n.auth_type = kAuthCommonMessages;
  n.auth_id = kDhchapNegotiate;
  n.t_id = tid_;
  n.sc_c = kAuthSecpNoSc;
  n.napd = 1;
  DhchapProtocolDescriptor& d = n.descriptors[0];
  d.authid = kAuthIdDhchap;
  d.halen = sizeof kOfferedHashes;
  d.dhlen = sizeof kOfferedGroups;
  std::memcpy(d.idlist, kOfferedHashes, sizeof kOfferedHashes);
  std::memcpy(d.idlist + kDhchapMaxHashIds, kOfferedGroups, sizeof kOfferedGroups);
  return message_bytes(n);
}

Bytes DhchapHost::reply(const uint8_t* data, size_t len) {
  auto refuse = [this](std::string why, uint8_t explanation) {
    failed(std::move(why), explanation);
    return Bytes{};
  };
  if (controller_failure(data, len)) return {};
  if (len < sizeof(DhchapChallenge) || data[0] != kAuthDhchapMessages || data[1] != kDhchapChallenge)
    return refuse("the controller sent no Challenge", kAuthIncorrectProtocolMessage);
  auto c = read_message<DhchapChallenge>(data);
  size_t hl = hash_length(c.hashid);
  if (c.t_id != tid_) return refuse("the controller's Challenge is for another transaction", kAuthIncorrectPayload);
  if (hl == 0 || c.hl != hl) return refuse("the controller chose a hash this host did not offer", kAuthHashUnusable);
  if (c.dhgid > kDhFfdhe8192) return refuse("the controller chose a DH group this host did not offer", kAuthDhgroupUnusable);
  if (c.dhvlen != dh_value_length(c.dhgid) || len < sizeof c + hl + c.dhvlen)
    return refuse("the controller's Challenge is truncated", kAuthIncorrectPayload);
  // Only a Challenge that passed the checks above sets the transaction's hash and group.
  hash_ = c.hashid;
  group_ = c.dhgid;
  const uint8_t* c1 = data + sizeof c;
  Bytes dh_value;
  if (group_ != kDhNull) {
    DhKey key(group_);
    try {
      session_key_ = key.shared_secret(c1 + hl, c.dhvlen);
    } catch (const Error&) {
      return refuse("the controller's DH value is invalid", kAuthDhgroupUnusable);
    }
    dh_value = key.public_value();
  }
  Transaction t{hash_, tid_, group_ != kDhNull ? &session_key_ : nullptr};
  Bytes r1 = host_response(t, *host_key_, c1, c.seqnum, hostnqn_, subnqn_);
  DhchapReply r{};
  r.auth_type = kAuthDhchapMessages;
  r.auth_id = kDhchapReply;
  r.t_id = tid_;
  r.hl = uint8_t(hl);
  r.dhvlen = uint16_t(dh_value.size());
  bidirectional_ = bool(ctrlr_key_);
  if (bidirectional_) {
    c2_.resize(hl);
    random_bytes(c2_.data(), hl);
    do random_bytes(reinterpret_cast<uint8_t*>(&s2_), sizeof s2_);
    while (s2_ == 0);
    r.cvalid = 1;
    r.seqnum = s2_;
  }
  Bytes out = message_bytes(r);
  out.insert(out.end(), r1.begin(), r1.end());
  if (bidirectional_) out.insert(out.end(), c2_.begin(), c2_.end());
  else out.resize(out.size() + hl);  // C2 is there, unused, whatever CVALID says
  out.insert(out.end(), dh_value.begin(), dh_value.end());
  replied_ = true;
  return out;
}

bool DhchapHost::success1(const uint8_t* data, size_t len) {
  if (controller_failure(data, len)) return false;
  if (len < sizeof(DhchapSuccess1) || data[0] != kAuthDhchapMessages || data[1] != kDhchapSuccess1)
    return failed("the controller sent no Success1", kAuthIncorrectProtocolMessage);
  if (!replied_) return failed("the controller sent Success1 before this host replied to a Challenge", kAuthIncorrectProtocolMessage);
  auto s = read_message<DhchapSuccess1>(data);
  size_t hl = hash_length(hash_);
  if (s.t_id != tid_) return failed("the controller's Success1 is for another transaction", kAuthIncorrectPayload);
  if (!bidirectional_) return true;
  if (!s.rvalid || s.hl != hl || len < sizeof s + hl)
    return failed("the controller did not answer this host's challenge", kAuthFailed);
  Transaction t{hash_, tid_, group_ != kDhNull ? &session_key_ : nullptr};
  Bytes expected = controller_response(t, *ctrlr_key_, c2_.data(), s2_, subnqn_, hostnqn_);
  if (!same_bytes(expected.data(), data + sizeof s, hl))
    return failed("the controller's response did not verify: it does not hold the controller key given", kAuthFailed);
  return true;
}

Bytes DhchapHost::success2() const {
  DhchapSuccess2 s{};
  s.auth_type = kAuthDhchapMessages;
  s.auth_id = kDhchapSuccess2;
  s.t_id = tid_;
  return message_bytes(s);
}

Bytes DhchapHost::failure2() const {
  if (!explanation_) return {};
  AuthFailure f{};
  f.auth_type = kAuthCommonMessages;
  f.auth_id = kAuthFailure2;
  f.t_id = tid_;
  f.rescode = kAuthFailureReasonFailed;
  f.rescode_exp = explanation_;
  return message_bytes(f);
}

}  // namespace rdmagate::auth
