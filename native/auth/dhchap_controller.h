// The controller's side of DH-HMAC-CHAP on one queue (NVMe Base 2.0, 8.13.5): it takes the
// messages a host sends with Authentication Send and makes those it fetches with
// Authentication Receive. No I/O here: the queue's fabrics handler moves the bytes, so the
// whole exchange can be tested and fuzzed as plain function calls.
//
//   Negotiate -> [Challenge] -> Reply -> [Success1] -> Success2 (bidirectional only)
//   (bracketed: fetched by the host). Any error: [Failure1] and the queue stays refused.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "auth/crypto.h"
#include "auth/dhchap_policy.h"
#include "auth/dhchap_secret.h"

namespace rdmagate::auth {

class DhchapController {
 public:
  // `keys` is asked at each Negotiate, so that a rotation applies to the next transaction.
  DhchapController(std::function<DhchapKeys()> keys, DhchapPolicy policy, std::string hostnqn, std::string subnqn);
  ~DhchapController();

  // Authentication Send's data. A protocol error shows in the next Receive (Failure1).
  void on_send(const uint8_t* data, size_t len);
  // Authentication Receive: writes the next message into out[0, al), zero-filled past it.
  // False when al is too small for it (the command fails with Invalid Field; nothing changes).
  bool on_receive(uint8_t* out, size_t al);

  bool authenticated() const { return authenticated_; }
  // The failure's reason code explanation (spec::kAuthFailed...), once the exchange failed
  // on either side; 0 while it has not.
  uint8_t failure() const { return failure_; }
  bool failure_from_host() const { return failure_from_host_; }
  uint8_t hash() const { return hash_; }
  uint8_t dhgroup() const { return group_; }
  bool bidirectional() const { return bidirectional_; }

 private:
  enum class Step : uint8_t { kNegotiate, kChallenge, kReply, kSuccess1, kSuccess2, kFailure1, kDone };

  void negotiate(const uint8_t* data, size_t len);
  void reply(const uint8_t* data, size_t len);
  bool challenge(uint8_t* out, size_t al);
  bool success1(uint8_t* out, size_t al);
  void failure1(uint8_t* out, size_t al);
  void fail(uint8_t explanation);
  void forget_transaction();

  std::function<DhchapKeys()> key_source_;
  DhchapKeys keys_;
  DhchapPolicy policy_;
  std::string hostnqn_, subnqn_;
  Step step_ = Step::kNegotiate;
  bool authenticated_ = false;
  uint8_t failure_ = 0;
  bool failure_from_host_ = false;
  uint16_t tid_ = 0;
  uint8_t hash_ = 0, group_ = 0;
  uint32_t s1_ = 0, s2_ = 0;
  bool bidirectional_ = false;
  Bytes c1_, c2_, session_key_;
  std::unique_ptr<DhKey> dh_;
};

}  // namespace rdmagate::auth
