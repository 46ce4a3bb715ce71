// NVMe/TCP transport PDUs (NVMe/TCP Transport Specification 1.0) and the
// header validation used by the receive path and the fuzzer.
//
// Every check here must hold for arbitrary peer bytes: functions take raw
// buffers with lengths, copy before reading, and never trust a length field
// before it is bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "spec/nvme.h"
#include "util/endian.h"

namespace rdmagate::spec {

inline constexpr uint16_t kTcpPort = 4420;
inline constexpr uint16_t kTcpDiscoveryPort = 8009;
inline constexpr uint16_t kTcpPfv10 = 0;  // PDU format version 1.0
inline constexpr uint32_t kTcpDigestLen = 4;
inline constexpr uint8_t kTcpMaxPda = 31;              // HPDA / CPDA limit
inline constexpr uint32_t kTcpMinMaxH2CData = 4096;    // MAXH2CDATA lower bound
inline constexpr uint32_t kTcpTermReqMaxErrorData = 128;  // echoed header bytes

enum PduType : uint8_t {
  kPduIcReq = 0x00,
  kPduIcResp = 0x01,
  kPduH2CTermReq = 0x02,
  kPduC2HTermReq = 0x03,
  kPduCapsuleCmd = 0x04,
  kPduCapsuleResp = 0x05,
  kPduH2CData = 0x06,
  kPduC2HData = 0x07,
  kPduR2T = 0x09,
};

enum PduFlag : uint8_t {
  kPduFlagHdgst = 0x01,        // header digest follows the header
  kPduFlagDdgst = 0x02,        // data digest follows the data
  kPduFlagDataLast = 0x04,     // H2CData / C2HData: last PDU of the transfer
  kPduFlagDataSuccess = 0x08,  // C2HData: no CapsuleResp follows (needs LAST)
};

// ICReq / ICResp digest field.
enum IcDigest : uint8_t {
  kIcDigestHeader = 0x01,
  kIcDigestData = 0x02,
};

// Fatal Error Status carried by H2CTermReq / C2HTermReq.
enum TermFes : uint16_t {
  kFesInvalidHeaderField = 0x01,  // FEI: byte offset of the field
  kFesPduSequenceError = 0x02,
  kFesHeaderDigestError = 0x03,
  kFesDataOutOfRange = 0x04,
  kFesR2tLimitExceeded = 0x05,    // in H2CTermReq (host detected)
  kFesDataLimitExceeded = 0x05,   // in C2HTermReq (controller detected)
  kFesUnsupportedParam = 0x06,    // FEI: byte offset of the field
};

#pragma pack(push, 1)

struct CommonHeader {
  uint8_t type;
  uint8_t flags;
  uint8_t hlen;  // header length, excluding the header digest
  uint8_t pdo;   // offset of the data from the start of the PDU; 0 if none
  uint32_t plen;  // total PDU length including digests and padding
};
static_assert(sizeof(CommonHeader) == 8);
static_assert(offsetof(CommonHeader, plen) == 4);

struct IcReqPdu {
  CommonHeader hdr;
  uint16_t pfv;
  uint8_t hpda;  // host data alignment, (hpda + 1) dwords
  uint8_t digest;
  uint32_t maxr2t;  // max outstanding R2Ts per command, 0's based
  uint8_t rsvd16[112];
};
static_assert(sizeof(IcReqPdu) == 128);
static_assert(offsetof(IcReqPdu, hpda) == 10);
static_assert(offsetof(IcReqPdu, maxr2t) == 12);

struct IcRespPdu {
  CommonHeader hdr;
  uint16_t pfv;
  uint8_t cpda;  // controller data alignment, (cpda + 1) dwords
  uint8_t digest;
  uint32_t maxh2cdata;  // max data bytes per H2CData PDU
  uint8_t rsvd16[112];
};
static_assert(sizeof(IcRespPdu) == 128);
static_assert(offsetof(IcRespPdu, cpda) == 10);
static_assert(offsetof(IcRespPdu, maxh2cdata) == 12);

// H2CTermReq / C2HTermReq; followed by up to 128 bytes of the offending PDU
// header.
struct TermReqPdu {
  CommonHeader hdr;
  uint16_t fes;
  uint32_t fei;
  uint8_t rsvd14[10];
};
static_assert(sizeof(TermReqPdu) == 24);
static_assert(offsetof(TermReqPdu, fes) == 8);
static_assert(offsetof(TermReqPdu, fei) == 10);

struct CapsuleCmdPdu {
  CommonHeader hdr;
  SubmissionEntry sqe;
};
static_assert(sizeof(CapsuleCmdPdu) == 72);

struct CapsuleRespPdu {
  CommonHeader hdr;
  CompletionEntry cqe;
};
static_assert(sizeof(CapsuleRespPdu) == 24);

// H2CData and C2HData share this layout (ttag is reserved in C2HData).
struct DataPdu {
  CommonHeader hdr;
  uint16_t cccid;  // command capsule CID
  uint16_t ttag;   // transfer tag from the R2T
  uint32_t datao;  // offset of this data within the command's buffer
  uint32_t datal;
  uint8_t rsvd20[4];
};
static_assert(sizeof(DataPdu) == 24);
static_assert(offsetof(DataPdu, datao) == 12);
static_assert(offsetof(DataPdu, datal) == 16);

struct R2tPdu {
  CommonHeader hdr;
  uint16_t cccid;
  uint16_t ttag;
  uint32_t r2to;  // offset of the requested data
  uint32_t r2tl;  // length of the requested data
  uint8_t rsvd20[4];
};
static_assert(sizeof(R2tPdu) == 24);
static_assert(offsetof(R2tPdu, r2to) == 12);
static_assert(offsetof(R2tPdu, r2tl) == 16);

#pragma pack(pop)

inline constexpr uint32_t kTermReqMaxLen = sizeof(TermReqPdu) + kTcpTermReqMaxErrorData;
static_assert(kTermReqMaxLen == 152);

// Which side sent the PDUs being validated.
enum class Direction : uint8_t { HostToController, ControllerToHost };

// Result of a header check; fes == 0 means valid.
struct PduError {
  uint16_t fes;
  uint32_t fei;

  constexpr bool ok() const { return fes == 0; }
  constexpr bool operator==(const PduError& o) const { return fes == o.fes && fei == o.fei; }
};

enum class PduCheck : uint8_t { Ok, NeedMore, Invalid };

// Fixed header length for each PDU type; 0 for unknown types.
constexpr uint8_t pdu_hlen(uint8_t type) {
  switch (type) {
    case kPduIcReq:
    case kPduIcResp: return sizeof(IcReqPdu);
    case kPduH2CTermReq:
    case kPduC2HTermReq: return sizeof(TermReqPdu);
    case kPduCapsuleCmd: return sizeof(CapsuleCmdPdu);
    case kPduCapsuleResp: return sizeof(CapsuleRespPdu);
    case kPduH2CData:
    case kPduC2HData: return sizeof(DataPdu);
    case kPduR2T: return sizeof(R2tPdu);
  }
  return 0;
}

constexpr bool pdu_valid_for(uint8_t type, Direction dir) {
  switch (type) {
    case kPduIcReq:
    case kPduH2CTermReq:
    case kPduCapsuleCmd:
    case kPduH2CData: return dir == Direction::HostToController;
    case kPduIcResp:
    case kPduC2HTermReq:
    case kPduCapsuleResp:
    case kPduC2HData:
    case kPduR2T: return dir == Direction::ControllerToHost;
  }
  return false;
}

// Connection setup and termination PDUs never carry digests.
constexpr bool pdu_has_digests(uint8_t type) {
  return type == kPduCapsuleCmd || type == kPduCapsuleResp || type == kPduH2CData ||
         type == kPduC2HData || type == kPduR2T;
}

constexpr bool pdu_can_carry_data(uint8_t type) {
  return type == kPduCapsuleCmd || type == kPduH2CData || type == kPduC2HData;
}

// Bytes to receive before the header is complete: hlen plus header digest.
constexpr uint32_t pdu_header_length(const CommonHeader& h, bool hdgst) {
  return h.hlen + (hdgst && pdu_has_digests(h.type) ? kTcpDigestLen : 0);
}

// PDO for an outgoing data-carrying PDU: header (+digest) rounded up to the
// receiver's alignment of (pda + 1) dwords.
constexpr uint8_t pdu_data_offset(uint8_t type, bool hdgst, uint8_t pda) {
  uint32_t align = (uint32_t(pda) + 1) * 4;
  uint32_t end = pdu_hlen(type) + (hdgst ? kTcpDigestLen : 0);
  return uint8_t((end + align - 1) / align * align);
}

namespace pdu_detail {
constexpr PduError invalid_field(size_t offset) {
  return PduError{kFesInvalidHeaderField, uint32_t(offset)};
}
}  // namespace pdu_detail

// Checks the 8-byte common header of a received PDU.
//   hdgst, ddgst: digests negotiated by ICReq/ICResp (false before that).
//   pda:          the receiver's own alignment (CPDA on the controller,
//                 HPDA on the host), 0's based dwords.
//   maxh2cdata:   largest data payload accepted in one PDU: MAXH2CDATA on
//                 the controller, the host's maximum transfer size on the host.
//   dir:          who sent the PDU.
// Verifies type, direction, hlen, digest flags and pdo alignment, and bounds
// plen: exactly header(+digest) for data-less PDUs, 24..152 for TermReqs,
// pdo + 1..maxh2cdata data bytes (+digest) otherwise. On failure returns the
// FES/FEI to put in the TermReq.
constexpr PduError validate_header(const CommonHeader& h, bool hdgst, bool ddgst, uint8_t pda,
                                   uint32_t maxh2cdata, Direction dir) {
  using pdu_detail::invalid_field;
  constexpr PduError kOk{0, 0};

  if (!pdu_valid_for(h.type, dir)) return invalid_field(offsetof(CommonHeader, type));
  if (h.hlen != pdu_hlen(h.type)) return invalid_field(offsetof(CommonHeader, hlen));

  const bool digests = pdu_has_digests(h.type);
  if (digests && ((h.flags & kPduFlagHdgst) != 0) != hdgst)
    return invalid_field(offsetof(CommonHeader, flags));
  const uint32_t header_end = pdu_header_length(h, hdgst);

  // A command capsule without in-capsule data has pdo == 0.
  if (!pdu_can_carry_data(h.type) || (h.type == kPduCapsuleCmd && h.pdo == 0)) {
    if (h.pdo != 0) return invalid_field(offsetof(CommonHeader, pdo));
    if (digests && (h.flags & kPduFlagDdgst))
      return invalid_field(offsetof(CommonHeader, flags));
    if (h.type == kPduH2CTermReq || h.type == kPduC2HTermReq) {
      if (h.plen < header_end || h.plen > kTermReqMaxLen)
        return invalid_field(offsetof(CommonHeader, plen));
    } else if (h.plen != header_end) {
      return invalid_field(offsetof(CommonHeader, plen));
    }
    return kOk;
  }

  if (((h.flags & kPduFlagDdgst) != 0) != ddgst) return invalid_field(offsetof(CommonHeader, flags));
  if (h.type == kPduC2HData && (h.flags & kPduFlagDataSuccess) && !(h.flags & kPduFlagDataLast))
    return invalid_field(offsetof(CommonHeader, flags));
  const uint32_t align = (uint32_t(pda) + 1) * 4;
  if (h.pdo < header_end || h.pdo % align != 0) return invalid_field(offsetof(CommonHeader, pdo));
  const uint32_t trailer = ddgst ? kTcpDigestLen : 0;
  if (h.plen <= h.pdo + trailer) return invalid_field(offsetof(CommonHeader, plen));
  if (h.plen - h.pdo - trailer > maxh2cdata) {
    if (h.type == kPduH2CData) return PduError{kFesDataLimitExceeded, 0};
    return invalid_field(offsetof(CommonHeader, plen));
  }
  return kOk;
}

// Type-specific checks on a complete header (hdr holds at least h.hlen
// bytes and validate_header() accepted its common header). The caller
// verifies the header digest, if any, before trusting this result.
inline PduError validate_pdu_fields(const uint8_t* hdr, bool ddgst) {
  using pdu_detail::invalid_field;
  CommonHeader h;
  std::memcpy(&h, hdr, sizeof(h));
  switch (h.type) {
    case kPduIcReq: {
      IcReqPdu p;
      std::memcpy(&p, hdr, sizeof(p));
      if (p.pfv != kTcpPfv10) return PduError{kFesUnsupportedParam, offsetof(IcReqPdu, pfv)};
      if (p.hpda > kTcpMaxPda) return invalid_field(offsetof(IcReqPdu, hpda));
      break;
    }
    case kPduIcResp: {
      IcRespPdu p;
      std::memcpy(&p, hdr, sizeof(p));
      if (p.pfv != kTcpPfv10) return PduError{kFesUnsupportedParam, offsetof(IcRespPdu, pfv)};
      if (p.cpda > kTcpMaxPda) return invalid_field(offsetof(IcRespPdu, cpda));
      if (p.maxh2cdata < kTcpMinMaxH2CData || p.maxh2cdata % 4 != 0)
        return invalid_field(offsetof(IcRespPdu, maxh2cdata));
      break;
    }
    case kPduH2CTermReq:
    case kPduC2HTermReq: {
      TermReqPdu p;
      std::memcpy(&p, hdr, sizeof(p));
      if (p.fes < kFesInvalidHeaderField || p.fes > kFesUnsupportedParam)
        return invalid_field(offsetof(TermReqPdu, fes));
      break;
    }
    case kPduH2CData:
    case kPduC2HData: {
      DataPdu p;
      std::memcpy(&p, hdr, sizeof(p));
      // validate_header() guarantees plen > pdo + digest.
      uint32_t data_len = h.plen - h.pdo - (ddgst ? kTcpDigestLen : 0);
      if (p.datal != data_len) return invalid_field(offsetof(DataPdu, datal));
      break;
    }
    case kPduR2T: {
      R2tPdu p;
      std::memcpy(&p, hdr, sizeof(p));
      if (p.r2tl == 0) return invalid_field(offsetof(R2tPdu, r2tl));
      break;
    }
  }
  return PduError{0, 0};
}

// Incremental check of a receive buffer holding the start of a PDU.
// NeedMore: fewer than 8 bytes, or a valid common header whose full header
// (+ header digest) has not arrived yet. Invalid: err holds FES/FEI.
// Digests are not verified here.
inline PduCheck check_pdu(const uint8_t* buf, size_t len, bool hdgst, bool ddgst, uint8_t pda,
                          uint32_t maxh2cdata, Direction dir, PduError& err) {
  err = PduError{0, 0};
  if (len < sizeof(CommonHeader)) return PduCheck::NeedMore;
  CommonHeader h;
  std::memcpy(&h, buf, sizeof(h));
  err = validate_header(h, hdgst, ddgst, pda, maxh2cdata, dir);
  if (!err.ok()) return PduCheck::Invalid;
  if (len < pdu_header_length(h, hdgst)) return PduCheck::NeedMore;
  err = validate_pdu_fields(buf, ddgst);
  return err.ok() ? PduCheck::Ok : PduCheck::Invalid;
}

// TermReq answering a bad PDU received from `received`; the caller appends
// min(error_data_len, 128) bytes of the offending header.
constexpr TermReqPdu make_term_req(Direction received, PduError e, uint32_t error_data_len) {
  uint32_t data = error_data_len < kTcpTermReqMaxErrorData ? error_data_len
                                                           : kTcpTermReqMaxErrorData;
  uint8_t type = received == Direction::HostToController ? kPduC2HTermReq : kPduH2CTermReq;
  return TermReqPdu{CommonHeader{type, 0, sizeof(TermReqPdu), 0,
                                 uint32_t(sizeof(TermReqPdu) + data)},
                    e.fes, e.fei, {}};
}

}  // namespace rdmagate::spec
