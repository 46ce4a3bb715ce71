// NVMe over Fabrics command set (NVMe-oF 1.1, NVMe Base 2.0 ch. 6): Connect,
// Property Get/Set, Disconnect, controller properties and NQN rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spec/nvme.h"
#include "spec/status.h"
#include "util/endian.h"

namespace rdmagate::spec {

// FabricsCommand::fctype. Bit 0 gives the data direction like an opcode.
enum FabricsType : uint8_t {
  kFctPropertySet = 0x00,
  kFctConnect = 0x01,
  kFctPropertyGet = 0x04,
  kFctAuthSend = 0x05,
  kFctAuthRecv = 0x06,
  kFctDisconnect = 0x08,
};

#pragma pack(push, 1)

// Common shape of every fabrics SQE; the last 24 bytes are fctype specific.
struct FabricsCommand {
  uint8_t opcode;  // kOpcodeFabrics
  uint8_t rsvd1;
  uint16_t cid;
  uint8_t fctype;
  uint8_t rsvd5[35];
  uint8_t specific[24];
};
static_assert(sizeof(FabricsCommand) == 64);
static_assert(offsetof(FabricsCommand, fctype) == 4);
static_assert(offsetof(FabricsCommand, specific) == 40);

struct ConnectCommand {
  uint8_t opcode;
  uint8_t rsvd1;
  uint16_t cid;
  uint8_t fctype;
  uint8_t rsvd5[19];
  SglDescriptor sgl;  // describes the 1024-byte ConnectData
  uint16_t recfmt;
  uint16_t qid;     // 0 = admin queue
  uint16_t sqsize;  // 0's based
  uint8_t cattr;
  uint8_t rsvd47;
  uint32_t kato;  // keep alive timeout in ms, admin queue only; 0 disables
  uint8_t rsvd52[12];
};
static_assert(sizeof(ConnectCommand) == 64);
static_assert(offsetof(ConnectCommand, sgl) == 24);
static_assert(offsetof(ConnectCommand, recfmt) == 40);
static_assert(offsetof(ConnectCommand, qid) == 42);
static_assert(offsetof(ConnectCommand, sqsize) == 44);
static_assert(offsetof(ConnectCommand, cattr) == 46);
static_assert(offsetof(ConnectCommand, kato) == 48);

struct ConnectData {
  uint8_t hostid[16];  // host identifier (UUID)
  uint16_t cntlid;     // kCntlidDynamic unless reconnecting to a static controller
  uint8_t rsvd18[238];
  char subnqn[256];
  char hostnqn[256];
  uint8_t rsvd768[256];
};
static_assert(sizeof(ConnectData) == 1024);
static_assert(offsetof(ConnectData, cntlid) == 16);
static_assert(offsetof(ConnectData, subnqn) == 256);
static_assert(offsetof(ConnectData, hostnqn) == 512);

struct PropertyGetCommand {
  uint8_t opcode;
  uint8_t rsvd1;
  uint16_t cid;
  uint8_t fctype;
  uint8_t rsvd5[35];
  uint8_t attrib;  // bits 2:0 size: 0 = 4 bytes, 1 = 8 bytes
  uint8_t rsvd41[3];
  uint32_t offset;
  uint8_t rsvd48[16];
};
static_assert(sizeof(PropertyGetCommand) == 64);
static_assert(offsetof(PropertyGetCommand, attrib) == 40);
static_assert(offsetof(PropertyGetCommand, offset) == 44);

struct PropertySetCommand {
  uint8_t opcode;
  uint8_t rsvd1;
  uint16_t cid;
  uint8_t fctype;
  uint8_t rsvd5[35];
  uint8_t attrib;
  uint8_t rsvd41[3];
  uint32_t offset;
  uint64_t value;
  uint8_t rsvd56[8];
};
static_assert(sizeof(PropertySetCommand) == 64);
static_assert(offsetof(PropertySetCommand, offset) == 44);
static_assert(offsetof(PropertySetCommand, value) == 48);

struct DisconnectCommand {
  uint8_t opcode;
  uint8_t rsvd1;
  uint16_t cid;
  uint8_t fctype;
  uint8_t rsvd5[35];
  uint16_t recfmt;
  uint8_t rsvd42[22];
};
static_assert(sizeof(DisconnectCommand) == 64);
static_assert(offsetof(DisconnectCommand, recfmt) == 40);

#pragma pack(pop)

// Connect.
inline constexpr uint16_t kConnectRecfmt = 0;
inline constexpr uint8_t kConnectCattrDisableSqFlow = 1u << 2;
inline constexpr uint16_t kCntlidMin = 0x0001;
inline constexpr uint16_t kCntlidMax = 0xffef;
inline constexpr uint16_t kCntlidDynamic = 0xffff;

// Connect completion DW0 on success: CNTLID in bits 15:0, AUTHREQ above.
inline constexpr uint32_t kConnectAuthreqAtr = 1u << 17;
inline constexpr uint32_t kConnectAuthreqAscr = 1u << 18;
constexpr uint32_t connect_result(uint16_t cntlid) { return cntlid; }
constexpr uint16_t connect_result_cntlid(uint32_t dw0) { return uint16_t(dw0); }

// Connect completion DW0 on Connect Invalid Parameters: IPO (bits 15:0) is
// the byte offset of the bad field, IATTR bit 0 (DW0 bit 16) says whether
// that offset is in the ConnectData (1) or the SQE (0).
inline constexpr uint32_t kConnectIattrData = 1u << 16;
constexpr uint32_t connect_invalid_sqe_field(uint16_t offset) { return offset; }
constexpr uint32_t connect_invalid_data_field(uint16_t offset) {
  return kConnectIattrData | offset;
}
constexpr bool connect_invalid_in_data(uint32_t dw0) { return dw0 & kConnectIattrData; }
constexpr uint16_t connect_invalid_offset(uint32_t dw0) { return uint16_t(dw0); }

// In-capsule data check: d describes where a command's data sits among the
// icd_len bytes that followed the SQE in its capsule.
constexpr Status check_incapsule_sgl(const DataSgl& d, uint32_t icd_len) {
  if (d.kind != DataSglKind::InCapsule) return status::kSglDescriptorTypeInvalid;
  if (d.addr > icd_len) return status::kSglOffsetInvalid;
  if (d.length > icd_len - d.addr) return status::kDataSglLengthInvalid;
  return status::kSuccess;
}

// Property Get/Set.
enum PropertySize : uint8_t { kPropSize4 = 0, kPropSize8 = 1 };
constexpr uint8_t property_size_attr(uint8_t attrib) { return attrib & 0x7; }

enum PropertyOffset : uint32_t {
  kPropCap = 0x00,
  kPropVs = 0x08,
  kPropCc = 0x14,
  kPropCsts = 0x1c,
  kPropNssr = 0x20,
};

// Width in bytes of a defined property, 0 for offsets fabrics doesn't define.
constexpr uint32_t property_width(uint32_t offset) {
  switch (offset) {
    case kPropCap: return 8;
    case kPropVs:
    case kPropCc:
    case kPropCsts:
    case kPropNssr: return 4;
  }
  return 0;
}

// NSSR write value that requests a subsystem reset ("NVMe").
inline constexpr uint32_t kNssrReset = 0x4e564d65;

// CAP: controller capabilities (64 bit).
constexpr uint16_t cap_mqes(uint64_t cap) { return uint16_t(cap); }  // 0's based
constexpr bool cap_cqr(uint64_t cap) { return (cap >> 16) & 0x1; }
constexpr uint8_t cap_to(uint64_t cap) { return uint8_t(cap >> 24); }  // 500 ms units
constexpr uint8_t cap_css(uint64_t cap) { return uint8_t(cap >> 37); }
constexpr uint8_t cap_mpsmin(uint64_t cap) { return (cap >> 48) & 0xf; }
constexpr uint8_t cap_mpsmax(uint64_t cap) { return (cap >> 52) & 0xf; }
inline constexpr uint8_t kCapCssNvm = 1u << 0;
constexpr uint64_t make_cap(uint16_t mqes, bool cqr, uint8_t to, uint8_t css, uint8_t mpsmin,
                            uint8_t mpsmax) {
  return uint64_t(mqes) | uint64_t(cqr) << 16 | uint64_t(to) << 24 | uint64_t(css) << 37 |
         uint64_t(mpsmin & 0xf) << 48 | uint64_t(mpsmax & 0xf) << 52;
}

// VS: major 31:16, minor 15:8, tertiary 7:0.
constexpr uint32_t make_version(uint16_t major, uint8_t minor, uint8_t tertiary) {
  return uint32_t(major) << 16 | uint32_t(minor) << 8 | tertiary;
}

// CC: controller configuration.
inline constexpr uint32_t kCcEnable = 1u << 0;
constexpr bool cc_en(uint32_t cc) { return cc & kCcEnable; }
constexpr uint8_t cc_css(uint32_t cc) { return (cc >> 4) & 0x7; }
constexpr uint8_t cc_mps(uint32_t cc) { return (cc >> 7) & 0xf; }  // page = 2^(12+mps)
constexpr uint8_t cc_ams(uint32_t cc) { return (cc >> 11) & 0x7; }
constexpr uint8_t cc_shn(uint32_t cc) { return (cc >> 14) & 0x3; }
constexpr uint8_t cc_iosqes(uint32_t cc) { return (cc >> 16) & 0xf; }  // log2 bytes
constexpr uint8_t cc_iocqes(uint32_t cc) { return (cc >> 20) & 0xf; }  // log2 bytes
enum ShutdownNotification : uint8_t { kShnNone = 0, kShnNormal = 1, kShnAbrupt = 2 };
inline constexpr uint8_t kSqesLog2 = 6;  // 64-byte SQE
inline constexpr uint8_t kCqesLog2 = 4;  // 16-byte CQE

// CSTS: controller status.
inline constexpr uint32_t kCstsRdy = 1u << 0;
inline constexpr uint32_t kCstsCfs = 1u << 1;
enum ShutdownStatus : uint8_t { kShstNormal = 0, kShstOccurring = 1, kShstComplete = 2 };
constexpr uint8_t csts_shst(uint32_t csts) { return (csts >> 2) & 0x3; }
constexpr uint32_t csts_set_shst(uint32_t csts, uint8_t shst) {
  return (csts & ~(0x3u << 2)) | uint32_t(shst & 0x3) << 2;
}

// NVMe Qualified Names (NVMe Base 2.0 4.5).
inline constexpr size_t kNqnMaxLen = 223;     // bytes, excluding the NUL
inline constexpr size_t kNqnFieldLen = 256;   // size of NQN fields on the wire
inline constexpr std::string_view kDiscoveryNqn = "nqn.2014-08.org.nvmexpress.discovery";
inline constexpr std::string_view kUuidNqnPrefix = "nqn.2014-08.org.nvmexpress:uuid:";

namespace nqn_detail {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// 8-4-4-4-12 hex digits, as printed by RFC 4122.
constexpr bool valid_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

// At least two DNS labels of 1..63 letters, digits or inner hyphens.
constexpr bool valid_reverse_domain(std::string_view d) {
  size_t labels = 0;
  size_t start = 0;
  for (size_t i = 0; i <= d.size(); ++i) {
    if (i < d.size() && d[i] != '.') {
      if (!is_alnum(d[i]) && d[i] != '-') return false;
      continue;
    }
    size_t len = i - start;
    if (len == 0 || len > 63 || d[start] == '-' || d[i - 1] == '-') return false;
    ++labels;
    start = i + 1;
  }
  return labels >= 2;
}

}  // namespace nqn_detail

// Accepts "nqn.yyyy-mm.<reverse domain>:<non-empty string>", the UUID form
// "nqn.2014-08.org.nvmexpress:uuid:<uuid>" and the discovery NQN; at most
// kNqnMaxLen bytes, no control characters (the user string may be UTF-8).
constexpr bool valid_nqn(std::string_view n) {
  using namespace nqn_detail;
  if (n.empty() || n.size() > kNqnMaxLen) return false;
  if (n == kDiscoveryNqn) return true;
  for (char c : n) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  if (n.substr(0, kUuidNqnPrefix.size()) == kUuidNqnPrefix)
    return valid_uuid(n.substr(kUuidNqnPrefix.size()));
  constexpr std::string_view kShape = "nqn.dddd-dd.";  // d = decimal digit
  if (n.size() < kShape.size()) return false;
  for (size_t i = 0; i < kShape.size(); ++i) {
    if (kShape[i] == 'd' ? !is_digit(n[i]) : n[i] != kShape[i]) return false;
  }
  int month = (n[9] - '0') * 10 + (n[10] - '0');
  if (month < 1 || month > 12) return false;
  std::string_view rest = n.substr(kShape.size());
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon + 1 == rest.size()) return false;
  return valid_reverse_domain(rest.substr(0, colon));
}

// View of a NUL-padded fixed-size wire field (NQNs, transport addresses);
// never reads past the field even if the peer left no NUL.
template <size_t N>
constexpr std::string_view field_view(const char (&field)[N]) {
  size_t len = 0;
  while (len < N && field[len] != '\0') ++len;
  return std::string_view(field, len);
}

// Stores s NUL-padded into a wire field; false (field untouched) if s plus a
// terminating NUL does not fit.
template <size_t N>
constexpr bool set_field(char (&field)[N], std::string_view s) {
  if (s.size() >= N) return false;
  for (size_t i = 0; i < N; ++i) field[i] = i < s.size() ? s[i] : '\0';
  return true;
}

}  // namespace rdmagate::spec
