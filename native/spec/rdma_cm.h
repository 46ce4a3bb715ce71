// NVMe/RDMA RDMA-CM private data (NVMe-oF 1.1 7.3.2 / NVMe RDMA Transport
// 1.0): exchanged in the CM REQ / REP / REJ messages before the fabrics
// Connect command runs on the new queue pair.
#pragma once

#include <cstddef>
#include <cstdint>

#include "util/endian.h"

namespace rdmagate::spec {

inline constexpr uint16_t kRdmaPort = 4420;
inline constexpr uint16_t kRdmaCmRecfmt = 0;

#pragma pack(push, 1)

struct RdmaCmRequest {
  uint16_t recfmt;
  uint16_t qid;      // 0 = admin queue
  uint16_t hrqsize;  // host receive queue entries, 1's based
  uint16_t hsqsize;  // host send queue entries, 0's based (= Connect SQSIZE)
  uint16_t cntlid;   // I/O queues: CNTLID from the admin Connect
  uint8_t rsvd10[22];
};
static_assert(sizeof(RdmaCmRequest) == 32);
static_assert(offsetof(RdmaCmRequest, hsqsize) == 6);
static_assert(offsetof(RdmaCmRequest, cntlid) == 8);

struct RdmaCmAccept {
  uint16_t recfmt;
  uint16_t crqsize;  // controller receive queue entries
  uint8_t rsvd4[28];
};
static_assert(sizeof(RdmaCmAccept) == 32);
static_assert(offsetof(RdmaCmAccept, crqsize) == 2);

struct RdmaCmReject {
  uint16_t recfmt;
  uint16_t sts;  // RdmaCmRejectStatus
};
static_assert(sizeof(RdmaCmReject) == 4);

#pragma pack(pop)

enum RdmaCmRejectStatus : uint16_t {
  kRdmaCmInvalidPrivateDataLen = 0x01,
  kRdmaCmInvalidRecfmt = 0x02,
  kRdmaCmInvalidQid = 0x03,
  kRdmaCmInvalidHsqsize = 0x04,
  kRdmaCmInvalidHrqsize = 0x05,
  kRdmaCmNoResources = 0x06,
  kRdmaCmInvalidIrd = 0x07,
  kRdmaCmInvalidOrd = 0x08,
  kRdmaCmInvalidCntlid = 0x09,
};

constexpr const char* rdma_cm_reject_name(uint16_t sts) {
  switch (sts) {
    case kRdmaCmInvalidPrivateDataLen: return "invalid private data length";
    case kRdmaCmInvalidRecfmt: return "invalid record format";
    case kRdmaCmInvalidQid: return "invalid queue id";
    case kRdmaCmInvalidHsqsize: return "invalid host send queue size";
    case kRdmaCmInvalidHrqsize: return "invalid host receive queue size";
    case kRdmaCmNoResources: return "no resources";
    case kRdmaCmInvalidIrd: return "invalid IRD";
    case kRdmaCmInvalidOrd: return "invalid ORD";
    case kRdmaCmInvalidCntlid: return "invalid controller id";
  }
  return "unknown reject status";
}

}  // namespace rdmagate::spec
