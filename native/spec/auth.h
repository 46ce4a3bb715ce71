// NVMe in-band authentication (NVMe Base 2.0 section 8.13, DH-HMAC-CHAP; NVMe-oF 1.1
// Authentication Send/Receive): the two fabrics commands and the messages they carry.
// Multi-byte fields are little-endian on the wire, as the host's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "spec/nvme.h"

namespace rdmagate::spec {

#pragma pack(push, 1)

// Authentication Send (fctype 0x05, host to controller) and Receive (0x06, controller to
// host): SECP/SPSP name the protocol, TL or AL the bytes moved.
struct AuthCommand {
  uint8_t opcode;  // kOpcodeFabrics
  uint8_t rsvd1;
  uint16_t cid;
  uint8_t fctype;
  uint8_t rsvd5[19];
  SglDescriptor sgl;
  uint8_t rsvd40;
  uint8_t spsp0;
  uint8_t spsp1;
  uint8_t secp;
  uint32_t length;  // TL (send) or AL (receive)
  uint8_t rsvd48[16];
};
static_assert(sizeof(AuthCommand) == 64);
static_assert(offsetof(AuthCommand, spsp0) == 41);
static_assert(offsetof(AuthCommand, secp) == 43);
static_assert(offsetof(AuthCommand, length) == 44);

// Every message starts with its type and id; all but Negotiate and the failures carry the
// transaction id at the same place.
struct AuthMessageHeader {
  uint8_t auth_type;
  uint8_t auth_id;
  uint16_t rsvd2;
  uint16_t t_id;
};
static_assert(sizeof(AuthMessageHeader) == 6);

struct DhchapProtocolDescriptor {
  uint8_t authid;  // kAuthIdDhchap
  uint8_t rsvd1;
  uint8_t halen;   // hash ids in idlist[0..29]
  uint8_t dhlen;   // DH group ids in idlist[30..59]
  uint8_t idlist[60];
};
static_assert(sizeof(DhchapProtocolDescriptor) == 64);

struct AuthNegotiate {
  uint8_t auth_type;  // kAuthCommonMessages
  uint8_t auth_id;    // kDhchapNegotiate
  uint16_t rsvd2;
  uint16_t t_id;
  uint8_t sc_c;       // secure channel concatenation: kAuthSecpNoSc
  uint8_t napd;       // protocol descriptors that follow
  DhchapProtocolDescriptor descriptors[1];
};
static_assert(sizeof(AuthNegotiate) == 72);

struct DhchapChallenge {
  uint8_t auth_type;  // kAuthDhchapMessages
  uint8_t auth_id;    // kDhchapChallenge
  uint16_t rsvd2;
  uint16_t t_id;
  uint8_t hl;         // hash length: of C1 and of each response
  uint8_t rsvd7;
  uint8_t hashid;
  uint8_t dhgid;
  uint16_t dhvlen;
  uint32_t seqnum;    // S1
  // hl bytes of C1, then dhvlen bytes of the controller's DH public value
};
static_assert(sizeof(DhchapChallenge) == 16);

struct DhchapReply {
  uint8_t auth_type;
  uint8_t auth_id;    // kDhchapReply
  uint16_t rsvd2;
  uint16_t t_id;
  uint8_t hl;
  uint8_t rsvd7;
  uint8_t cvalid;     // 1: C2 follows the response (bidirectional)
  uint8_t rsvd9;
  uint16_t dhvlen;
  uint32_t seqnum;    // S2; 0 when the controller is not to be authenticated
  // hl bytes of the host's response R1, hl bytes of C2, dhvlen bytes of the host's DH value
};
static_assert(sizeof(DhchapReply) == 16);

struct DhchapSuccess1 {
  uint8_t auth_type;
  uint8_t auth_id;    // kDhchapSuccess1
  uint16_t rsvd2;
  uint16_t t_id;
  uint8_t hl;
  uint8_t rsvd7;
  uint8_t rvalid;     // 1: the controller's response R2 follows
  uint8_t rsvd9[7];
  // hl bytes of R2
};
static_assert(sizeof(DhchapSuccess1) == 16);

struct DhchapSuccess2 {
  uint8_t auth_type;
  uint8_t auth_id;    // kDhchapSuccess2
  uint16_t rsvd2;
  uint16_t t_id;
  uint8_t rsvd6[10];
};
static_assert(sizeof(DhchapSuccess2) == 16);

struct AuthFailure {
  uint8_t auth_type;  // kAuthCommonMessages
  uint8_t auth_id;    // kAuthFailure1 (controller) or kAuthFailure2 (host)
  uint16_t rsvd2;
  uint16_t t_id;
  uint8_t rescode;    // kAuthFailureReasonFailed
  uint8_t rescode_exp;
};
static_assert(sizeof(AuthFailure) == 8);

#pragma pack(pop)

// SECP and SPSP of the DH-HMAC-CHAP protocol (NVMe-oF: security protocol E9h, 0101h).
inline constexpr uint8_t kAuthSecp = 0xe9;
inline constexpr uint8_t kAuthSpsp0 = 0x01;
inline constexpr uint8_t kAuthSpsp1 = 0x01;

inline constexpr uint8_t kAuthCommonMessages = 0x00;
inline constexpr uint8_t kAuthDhchapMessages = 0x01;
inline constexpr uint8_t kAuthIdDhchap = 0x01;
inline constexpr uint8_t kAuthSecpNoSc = 0x00;

enum DhchapMessage : uint8_t {
  kDhchapNegotiate = 0x00,
  kDhchapChallenge = 0x01,
  kDhchapReply = 0x02,
  kDhchapSuccess1 = 0x03,
  kDhchapSuccess2 = 0x04,
  kAuthFailure2 = 0xf0,
  kAuthFailure1 = 0xf1,
};

inline constexpr uint8_t kAuthFailureReasonFailed = 0x01;
// Failure reason code explanations.
enum AuthFailureExplanation : uint8_t {
  kAuthFailed = 0x01,
  kAuthNotUsable = 0x02,
  kAuthConcatMismatch = 0x03,
  kAuthHashUnusable = 0x04,
  kAuthDhgroupUnusable = 0x05,
  kAuthIncorrectPayload = 0x06,
  kAuthIncorrectProtocolMessage = 0x07,
};

constexpr const char* auth_failure_explanation(uint8_t explanation) {
  switch (explanation) {
    case kAuthFailed: return "authentication failed";
    case kAuthNotUsable: return "authentication protocol not usable";
    case kAuthConcatMismatch: return "secure channel concatenation mismatch";
    case kAuthHashUnusable: return "no usable hash function";
    case kAuthDhgroupUnusable: return "no usable DH group";
    case kAuthIncorrectPayload: return "incorrect payload";
    case kAuthIncorrectProtocolMessage: return "incorrect protocol message";
  }
  return "unknown reason";
}

// Hash function ids (HashID) and their output lengths.
enum DhchapHash : uint8_t { kHashNone = 0, kHashSha256 = 1, kHashSha384 = 2, kHashSha512 = 3 };
constexpr size_t hash_length(uint8_t id) { return id == kHashSha256 ? 32 : id == kHashSha384 ? 48 : id == kHashSha512 ? 64 : 0; }

// Diffie-Hellman group ids (DHGID): the NULL group (no exchange) and RFC 7919's FFDHE groups.
enum DhchapGroup : uint8_t {
  kDhNull = 0,
  kDhFfdhe2048 = 1,
  kDhFfdhe3072 = 2,
  kDhFfdhe4096 = 3,
  kDhFfdhe6144 = 4,
  kDhFfdhe8192 = 5,
};
// Bytes of a group's public value (its prime's size).
constexpr size_t dh_value_length(uint8_t id) {
  return id == kDhFfdhe2048 ? 256 : id == kDhFfdhe3072 ? 384 : id == kDhFfdhe4096 ? 512 : id == kDhFfdhe6144 ? 768
         : id == kDhFfdhe8192 ? 1024 : 0;
}

inline constexpr size_t kDhchapMaxHashIds = 30;
inline constexpr size_t kDhchapMaxDhIds = 30;

}  // namespace rdmagate::spec
