// The host's side of DH-HMAC-CHAP on one queue (NVMe Base 2.0, 8.13.5): the messages it
// sends with Authentication Send and reads from Authentication Receive. No I/O here: the
// queue pair sends and fetches, in this order:
//   send negotiate(); fetch -> reply(); send it; fetch -> success1(); send success2() if needed.
// When a step fails, error() says why and failure2() is what to send the controller
// (empty when the controller itself reported the failure).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "auth/crypto.h"
#include "auth/dhchap_secret.h"

namespace rdmagate::auth {

class DhchapHost {
 public:
  // Enough for the largest Challenge (SHA-512 and FFDHE-8192) and any Success1.
  static constexpr uint32_t kReceiveLength = 2048;

  DhchapHost(SecretRef host_key, SecretRef ctrlr_key, std::string hostnqn, std::string subnqn, uint16_t tid);
  ~DhchapHost();

  Bytes negotiate() const;
  // The controller's Challenge (or Failure1): the Reply to send, or empty on failure.
  Bytes reply(const uint8_t* data, size_t len);
  // The controller's Success1 (or Failure1): false on failure. On success, success2() is
  // to be sent when success2_needed().
  bool success1(const uint8_t* data, size_t len);
  bool success2_needed() const { return bidirectional_; }
  Bytes success2() const;
  Bytes failure2() const;
  const std::string& error() const { return error_; }
  uint8_t hash() const { return hash_; }
  uint8_t dhgroup() const { return group_; }

 private:
  bool failed(std::string why, uint8_t explanation);
  bool controller_failure(const uint8_t* data, size_t len);

  SecretRef host_key_, ctrlr_key_;
  std::string hostnqn_, subnqn_;
  uint16_t tid_;
  uint8_t hash_ = 0, group_ = 0;
  bool replied_ = false;  // reply() answered a valid Challenge: Success1 may follow
  bool bidirectional_ = false;
  uint32_t s2_ = 0;
  Bytes c2_, session_key_;
  std::string error_;
  uint8_t explanation_ = 0;  // for Failure2; 0 when the controller reported the failure
};

}  // namespace rdmagate::auth
