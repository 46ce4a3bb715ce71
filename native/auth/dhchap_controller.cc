#include "auth/dhchap_controller.h"

#include <algorithm>
#include <cstring>

#include "auth/dhchap_response.h"
#include "auth/message.h"
#include "util/error.h"

namespace rdmagate::auth {

using namespace spec;

namespace {

bool listed(const uint8_t* ids, size_t n, uint8_t id) { return std::find(ids, ids + n, id) != ids + n; }

}  // namespace

DhchapController::DhchapController(std::function<DhchapKeys()> keys, DhchapPolicy policy, std::string hostnqn,
                                   std::string subnqn)
    : key_source_(std::move(keys)), policy_(std::move(policy)), hostnqn_(std::move(hostnqn)), subnqn_(std::move(subnqn)) {}

DhchapController::~DhchapController() { forget_transaction(); }

void DhchapController::forget_transaction() {
  wipe(c1_);
  wipe(c2_);
  wipe(session_key_);
  dh_.reset();
}

void DhchapController::fail(uint8_t explanation) {
  forget_transaction();
  authenticated_ = false;
  failure_ = explanation;
  step_ = Step::kFailure1;
}

void DhchapController::on_send(const uint8_t* data, size_t len) {
  if (failure_) return;  // one failure ends authentication on this queue
  if (len < 2) return fail(kAuthIncorrectPayload);
  uint8_t type = data[0], id = data[1];
  if (type == kAuthCommonMessages && id == kDhchapNegotiate) return negotiate(data, len);  // also a re-authentication
  if (type == kAuthCommonMessages && id == kAuthFailure2) {
    forget_transaction();
    authenticated_ = false;
    failure_from_host_ = true;
    failure_ = len >= sizeof(AuthFailure) && read_message<AuthFailure>(data).rescode_exp ? read_message<AuthFailure>(data).rescode_exp
                                                                                  : uint8_t(kAuthFailed);
    step_ = Step::kDone;
    return;
  }
  if (type != kAuthDhchapMessages) return fail(kAuthIncorrectProtocolMessage);
  if ((id == kDhchapReply && step_ != Step::kReply) || (id == kDhchapSuccess2 && step_ != Step::kSuccess2) ||
      (id != kDhchapReply && id != kDhchapSuccess2))
    return fail(kAuthIncorrectProtocolMessage);
  if (len < sizeof(AuthMessageHeader) || read_message<AuthMessageHeader>(data).t_id != tid_) return fail(kAuthIncorrectPayload);
  if (id == kDhchapReply) return reply(data, len);
  if (len < sizeof(DhchapSuccess2)) return fail(kAuthIncorrectPayload);
  forget_transaction();
  authenticated_ = true;
  step_ = Step::kDone;
}

void DhchapController::negotiate(const uint8_t* data, size_t len) {
  forget_transaction();
  if (len < sizeof(AuthNegotiate)) return fail(kAuthIncorrectPayload);
  auto n = read_message<AuthNegotiate>(data);
  tid_ = n.t_id;
  if (n.sc_c != kAuthSecpNoSc) return fail(kAuthConcatMismatch);
  if (n.napd == 0 || len < offsetof(AuthNegotiate, descriptors) + size_t(n.napd) * sizeof(DhchapProtocolDescriptor))
    return fail(kAuthIncorrectPayload);
  const DhchapProtocolDescriptor* d = nullptr;
  for (size_t i = 0; i < n.napd && !d; ++i) {
    auto* candidate = reinterpret_cast<const DhchapProtocolDescriptor*>(data + offsetof(AuthNegotiate, descriptors)) + i;
    if (candidate->authid == kAuthIdDhchap) d = candidate;
  }
  if (!d || d->halen > kDhchapMaxHashIds || d->dhlen > kDhchapMaxDhIds) return fail(kAuthIncorrectPayload);
  keys_ = key_source_();
  if (!keys_.host) return fail(kAuthNotUsable);
  auto hash = std::find_if(policy_.digests.begin(), policy_.digests.end(),
                           [&](uint8_t h) { return listed(d->idlist, d->halen, h); });
  if (hash == policy_.digests.end()) return fail(kAuthHashUnusable);
  auto group = std::find_if(policy_.dhgroups.begin(), policy_.dhgroups.end(),
                            [&](uint8_t g) { return listed(d->idlist + kDhchapMaxHashIds, d->dhlen, g); });
  if (group == policy_.dhgroups.end()) return fail(kAuthDhgroupUnusable);
  hash_ = *hash;
  group_ = *group;
  bidirectional_ = false;
  step_ = Step::kChallenge;
}

bool DhchapController::on_receive(uint8_t* out, size_t al) {
  if (step_ == Step::kChallenge) return challenge(out, al);
  if (step_ == Step::kSuccess1) return success1(out, al);
  // Anything else fetched now is a Failure1: the failure being reported, or a host out of step.
  if (!failure_) fail(kAuthIncorrectProtocolMessage);
  if (al < sizeof(AuthFailure)) return false;
  failure1(out, al);
  return true;
}

bool DhchapController::challenge(uint8_t* out, size_t al) {
  size_t hl = hash_length(hash_), dhvlen = dh_value_length(group_);
  if (al < sizeof(DhchapChallenge) + hl + dhvlen) return false;
  std::memset(out, 0, al);
  c1_.resize(hl);
  random_bytes(c1_.data(), hl);
  do random_bytes(reinterpret_cast<uint8_t*>(&s1_), sizeof s1_);
  while (s1_ == 0);
  if (group_ != kDhNull) dh_ = std::make_unique<DhKey>(group_);
  DhchapChallenge c{};
  c.auth_type = kAuthDhchapMessages;
  c.auth_id = kDhchapChallenge;
  c.t_id = tid_;
  c.hl = uint8_t(hl);
  c.hashid = hash_;
  c.dhgid = group_;
  c.dhvlen = uint16_t(dhvlen);
  c.seqnum = s1_;
  std::memcpy(out, &c, sizeof c);
  std::memcpy(out + sizeof c, c1_.data(), hl);
  if (dh_) std::memcpy(out + sizeof c + hl, dh_->public_value().data(), dhvlen);
  step_ = Step::kReply;
  return true;
}

void DhchapController::reply(const uint8_t* data, size_t len) {
  if (len < sizeof(DhchapReply)) return fail(kAuthIncorrectPayload);
  auto r = read_message<DhchapReply>(data);
  size_t hl = hash_length(hash_);
  if (r.hl != hl || r.dhvlen != dh_value_length(group_) || len < sizeof r + 2 * hl + r.dhvlen)
    return fail(kAuthIncorrectPayload);
  const uint8_t* response = data + sizeof r;
  const uint8_t* c2 = response + hl;
  if (dh_) {
    try {
      session_key_ = dh_->shared_secret(c2 + hl, r.dhvlen);
    } catch (const Error&) {
      return fail(kAuthDhgroupUnusable);
    }
  }
  Transaction t{hash_, tid_, dh_ ? &session_key_ : nullptr};
  Bytes expected = host_response(t, *keys_.host, c1_.data(), s1_, hostnqn_, subnqn_);
  if (!same_bytes(expected.data(), response, hl)) return fail(kAuthFailed);
  if (r.cvalid) {
    // S2 = 0 only carries C2 for a secure channel, which this controller does not offer.
    if (!keys_.ctrlr || r.seqnum == 0) return fail(kAuthFailed);
    c2_.assign(c2, c2 + hl);
    s2_ = r.seqnum;
    bidirectional_ = true;
  }
  step_ = Step::kSuccess1;
}

bool DhchapController::success1(uint8_t* out, size_t al) {
  size_t hl = hash_length(hash_);
  if (al < sizeof(DhchapSuccess1) + (bidirectional_ ? hl : 0)) return false;
  std::memset(out, 0, al);
  DhchapSuccess1 s{};
  s.auth_type = kAuthDhchapMessages;
  s.auth_id = kDhchapSuccess1;
  s.t_id = tid_;
  s.hl = uint8_t(hl);
  if (bidirectional_) {
    Transaction t{hash_, tid_, dh_ ? &session_key_ : nullptr};
    Bytes r2 = controller_response(t, *keys_.ctrlr, c2_.data(), s2_, subnqn_, hostnqn_);
    s.rvalid = 1;
    std::memcpy(out + sizeof s, r2.data(), hl);
    step_ = Step::kSuccess2;
  } else {
    forget_transaction();
    authenticated_ = true;
    step_ = Step::kDone;
  }
  std::memcpy(out, &s, sizeof s);
  return true;
}

void DhchapController::failure1(uint8_t* out, size_t al) {
  std::memset(out, 0, al);
  AuthFailure f{};
  f.auth_type = kAuthCommonMessages;
  f.auth_id = kAuthFailure1;
  f.t_id = tid_;
  f.rescode = kAuthFailureReasonFailed;
  f.rescode_exp = failure_;
  std::memcpy(out, &f, sizeof f);
  step_ = Step::kDone;
}

}  // namespace rdmagate::auth
