// How a host request, queue or controller ended, in the form the bindings report upward.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "spec/nvme.h"
#include "spec/status.h"

namespace rdmagate::host {

// Status word of a finished request. Bits 14:0 are the CQE status field without its phase
// bit (SC 7:0, SCT 10:8, CRD 12:11, More 13, DNR 14), so 0 is success and JS can decode
// sct/sc/dnr without a table. Outcomes that have no CQE (the host gave up or lost the
// connection) use values from kHostStatusBase up, which no 15-bit CQE status can reach.
inline constexpr uint32_t kHostStatusBase = 0x10000;
enum HostStatus : uint32_t {
  kStatusTimeout = kHostStatusBase + 1,       // no completion, and Abort did not help
  kStatusDisconnected = kHostStatusBase + 2,  // the queue or controller went away
  kStatusTransport = kHostStatusBase + 3,     // the connection died of a protocol error
  kStatusAuth = kHostStatusBase + 4,          // DH-HMAC-CHAP failed (a re-authentication)
};

constexpr uint32_t status_word(const spec::CompletionEntry& cqe) { return uint32_t(cqe.status) >> 1; }
constexpr uint32_t status_word(spec::Status s, bool dnr = false) {
  return uint32_t(s.sc) | uint32_t(s.sct & 0x7) << 8 | (dnr ? 1u << 14 : 0);
}
// Success: SC and SCT zero (CRD, More and DNR do not make a success an error).
constexpr bool status_ok(uint32_t word) { return (word & ~0x7800u) == 0; }
constexpr uint8_t status_sct(uint32_t word) { return (word >> 8) & 0x7; }
constexpr uint8_t status_sc(uint32_t word) { return uint8_t(word); }

// JS error codes a Failure carries (lib/nvmf/errors.ts has the classes).
inline constexpr const char* kErrConnect = "ERR_NVME_CONNECT";
inline constexpr const char* kErrAuth = "ERR_NVME_AUTH";  // DH-HMAC-CHAP failed, either way
inline constexpr const char* kErrTransport = "ERR_NVME_TRANSPORT";
inline constexpr const char* kErrTimeout = "ERR_NVME_TIMEOUT";
inline constexpr const char* kErrDisconnected = "ERR_NVME_DISCONNECTED";
inline constexpr const char* kErrStatus = "ERR_NVME_STATUS";

struct Failure {
  std::string code;
  std::string message;
  int errnum = 0;       // errno for socket failures
  uint32_t status = 0;  // status word, for kErrStatus and a rejected Connect

  // The status that requests caught in this failure complete with.
  uint32_t request_status() const {
    if (code == kErrTimeout) return kStatusTimeout;
    if (code == kErrTransport) return kStatusTransport;
    return kStatusDisconnected;
  }
};

// A failure caused by an NVMe error completion during a host-driven step.
inline Failure status_failure(const char* code, const std::string& what, uint32_t word) {
  char detail[48];
  std::snprintf(detail, sizeof detail, " (sct %u, sc 0x%02x)", status_sct(word), status_sc(word));
  return Failure{code, what + ": " + spec::status_name(status_sct(word), status_sc(word)) + detail,
                 0, word};
}

}  // namespace rdmagate::host
