// The values both ends of a DH-HMAC-CHAP transaction compute (NVMe Base 2.0, 8.13.5):
// the augmented challenge, and the host's (R1) and the controller's (R2) responses.
#pragma once

#include <cstdint>
#include <string>

#include "auth/crypto.h"
#include "auth/dhchap_secret.h"

namespace rdmagate::auth {

struct Transaction {
  uint8_t hash = 0;             // negotiated hash id
  uint16_t tid = 0;             // transaction id
  const Bytes* session_key = nullptr;  // the DH shared secret; null in the NULL group
};

// R1 = HMAC(Kh', Ca1 || S1 || T || SC_C || "HostHost" || NQNh || 00h || NQNc), where
// Ca1 is C1 itself in the NULL group and HMAC(H(session key), C1) otherwise.
Bytes host_response(const Transaction& t, const DhchapSecret& host_key, const uint8_t* c1, uint32_t s1,
                    const std::string& hostnqn, const std::string& subnqn);

// R2 = HMAC(Kc', Ca2 || S2 || T || 00h || "Controller" || NQNc || 00h || NQNh).
Bytes controller_response(const Transaction& t, const DhchapSecret& ctrl_key, const uint8_t* c2, uint32_t s2,
                          const std::string& subnqn, const std::string& hostnqn);

}  // namespace rdmagate::auth
