// NVMe queue entries and command set constants (NVMe Base 2.0, NVM Command
// Set 1.0): the 64-byte submission entry, the 16-byte completion entry, SGL
// descriptors and the opcodes / feature ids a fabrics controller handles.
#pragma once

#include <cstddef>
#include <cstdint>

#include "spec/status.h"
#include "util/endian.h"

namespace rdmagate::spec {

enum AdminOpcode : uint8_t {
  // Queue management is PCIe only; fabrics controllers reject these with
  // Invalid Command Opcode because queues are created by Connect.
  kAdminDeleteSq = 0x00,
  kAdminCreateSq = 0x01,
  kAdminGetLogPage = 0x02,
  kAdminDeleteCq = 0x04,
  kAdminCreateCq = 0x05,
  kAdminIdentify = 0x06,
  kAdminAbort = 0x08,
  kAdminSetFeatures = 0x09,
  kAdminGetFeatures = 0x0a,
  kAdminAsyncEvent = 0x0c,
  kAdminKeepAlive = 0x18,
};

// Fabrics commands use one opcode on admin and I/O queues; the real command
// is in FabricsCommand::fctype (see fabrics.h).
inline constexpr uint8_t kOpcodeFabrics = 0x7f;

enum IoOpcode : uint8_t {
  kIoFlush = 0x00,
  kIoWrite = 0x01,
  kIoRead = 0x02,
  kIoWriteZeroes = 0x08,
  kIoDsm = 0x09,
};

// Opcode bits 1:0 give the data direction for every command set.
enum DataDirection : uint8_t {
  kXferNone = 0x0,
  kXferHostToController = 0x1,
  kXferControllerToHost = 0x2,
  kXferBidirectional = 0x3,
};
constexpr DataDirection opcode_direction(uint8_t opcode) {
  return static_cast<DataDirection>(opcode & 0x3);
}

enum FeatureId : uint8_t {
  kFeatArbitration = 0x01,
  kFeatPowerMgmt = 0x02,
  kFeatTempThresh = 0x04,
  kFeatErrRecovery = 0x05,
  kFeatVolatileWc = 0x06,
  kFeatNumQueues = 0x07,
  kFeatIrqCoalesce = 0x08,
  kFeatWriteAtomic = 0x0a,
  kFeatAsyncEventConfig = 0x0b,
  kFeatKeepAliveTimer = 0x0f,
};

#pragma pack(push, 1)

// SGL descriptor (NVMe Base 2.0 4.1.2). Layout depends on the type nibble of
// the identifier byte, so the 7 type-specific bytes are exposed through
// accessors instead of overlapping structs:
//   data block / transport data block: [8..11] length, [12..14] reserved
//   keyed data block:                  [8..10] 24-bit length, [11..14] key
struct SglDescriptor {
  uint64_t addr;  // address, or byte offset into in-capsule data
  uint8_t body[7];
  uint8_t id;  // type in bits 7:4, subtype in bits 3:0

  constexpr uint8_t type() const { return id >> 4; }
  constexpr uint8_t subtype() const { return id & 0x0f; }
  constexpr uint32_t length() const {
    return uint32_t(body[0]) | uint32_t(body[1]) << 8 | uint32_t(body[2]) << 16 |
           uint32_t(body[3]) << 24;
  }
  constexpr uint32_t keyed_length() const {
    return uint32_t(body[0]) | uint32_t(body[1]) << 8 | uint32_t(body[2]) << 16;
  }
  constexpr uint32_t key() const {
    return uint32_t(body[3]) | uint32_t(body[4]) << 8 | uint32_t(body[5]) << 16 |
           uint32_t(body[6]) << 24;
  }
};
static_assert(sizeof(SglDescriptor) == 16);
static_assert(offsetof(SglDescriptor, id) == 15);

struct Prp {
  uint64_t prp1;
  uint64_t prp2;
};
static_assert(sizeof(Prp) == 16);

union DataPointer {
  Prp prp;
  SglDescriptor sgl;
};
static_assert(sizeof(DataPointer) == 16);

struct SubmissionEntry {
  uint8_t opcode;
  uint8_t flags;  // FUSE bits 1:0, PSDT bits 7:6
  uint16_t cid;
  uint32_t nsid;
  uint32_t cdw2;
  uint32_t cdw3;
  uint64_t mptr;
  DataPointer dptr;
  uint32_t cdw10;
  uint32_t cdw11;
  uint32_t cdw12;
  uint32_t cdw13;
  uint32_t cdw14;
  uint32_t cdw15;
};
static_assert(sizeof(SubmissionEntry) == 64);
static_assert(offsetof(SubmissionEntry, cid) == 2);
static_assert(offsetof(SubmissionEntry, nsid) == 4);
static_assert(offsetof(SubmissionEntry, mptr) == 16);
static_assert(offsetof(SubmissionEntry, dptr) == 24);
static_assert(offsetof(SubmissionEntry, cdw10) == 40);
static_assert(offsetof(SubmissionEntry, cdw15) == 60);

struct CompletionEntry {
  uint32_t dw0;  // command specific result
  uint32_t dw1;
  uint16_t sqhd;
  uint16_t sqid;
  uint16_t cid;
  // Bit 0 phase tag (always 0 over fabrics), 8:1 SC, 11:9 SCT, 13:12 CRD,
  // 14 More, 15 Do Not Retry.
  uint16_t status;

  constexpr bool phase() const { return status & 0x1; }
  constexpr uint8_t sc() const { return uint8_t(status >> 1); }
  constexpr uint8_t sct() const { return (status >> 9) & 0x7; }
  constexpr Status code() const { return Status{sct(), sc()}; }
  constexpr bool more() const { return status & 0x4000; }
  constexpr bool dnr() const { return status & 0x8000; }

  // Replaces everything but the phase tag.
  constexpr void set_status(Status s, bool dnr = false, bool more = false) {
    status = uint16_t((status & 0x1) | s.sc << 1 | (s.sct & 0x7) << 9 | (more ? 0x4000 : 0) |
                      (dnr ? 0x8000 : 0));
  }
};
static_assert(sizeof(CompletionEntry) == 16);
static_assert(offsetof(CompletionEntry, sqhd) == 8);
static_assert(offsetof(CompletionEntry, cid) == 12);
static_assert(offsetof(CompletionEntry, status) == 14);

// Dataset Management range; the DSM data buffer is an array of these.
struct DsmRange {
  uint32_t cattr;  // context attributes
  uint32_t nlb;    // length in logical blocks (1's based)
  uint64_t slba;
};
static_assert(sizeof(DsmRange) == 16);

#pragma pack(pop)

// SubmissionEntry::flags.
inline constexpr uint8_t kFuseMask = 0x03;
inline constexpr uint8_t kFuseFirst = 0x01;
inline constexpr uint8_t kFuseSecond = 0x02;
inline constexpr uint8_t kPsdtShift = 6;
inline constexpr uint8_t kPsdtMask = 0xc0;
enum Psdt : uint8_t {
  kPsdtPrp = 0x0,
  kPsdtSglMptrBuffer = 0x1,   // MPTR is a single contiguous buffer
  kPsdtSglMptrSegment = 0x2,  // MPTR points to an SGL segment
};
constexpr uint8_t sqe_fuse(uint8_t flags) { return flags & kFuseMask; }
constexpr uint8_t sqe_psdt(uint8_t flags) { return uint8_t((flags & kPsdtMask) >> kPsdtShift); }

// SGL descriptor types (identifier bits 7:4).
enum SglType : uint8_t {
  kSglDataBlock = 0x0,
  kSglBitBucket = 0x1,
  kSglSegment = 0x2,
  kSglLastSegment = 0x3,
  kSglKeyedDataBlock = 0x4,
  kSglTransportDataBlock = 0x5,
};

// SGL descriptor subtypes (identifier bits 3:0).
enum SglSubtype : uint8_t {
  kSglSubAddress = 0x0,
  kSglSubOffset = 0x1,      // addr is an offset into the capsule's data
  kSglSubTransportA = 0xa,  // NVMe/TCP: data moved by R2T / C2HData PDUs
  kSglSubInvalidate = 0xf,  // NVMe/RDMA keyed: invalidate the key on completion
};

constexpr uint8_t sgl_id(uint8_t type, uint8_t subtype) {
  return uint8_t(type << 4 | (subtype & 0x0f));
}

constexpr SglDescriptor make_data_block_sgl(uint64_t addr, uint32_t len, uint8_t subtype) {
  return SglDescriptor{addr,
                       {uint8_t(len), uint8_t(len >> 8), uint8_t(len >> 16), uint8_t(len >> 24),
                        0, 0, 0},
                       sgl_id(kSglDataBlock, subtype)};
}

// In-capsule data (both fabrics transports): Data Block with Offset subtype.
constexpr SglDescriptor make_incapsule_sgl(uint32_t offset, uint32_t len) {
  return make_data_block_sgl(offset, len, kSglSubOffset);
}

// NVMe/RDMA remote buffer. len is truncated to 24 bits by the format.
constexpr SglDescriptor make_keyed_sgl(uint64_t addr, uint32_t len, uint32_t key,
                                       bool invalidate) {
  return SglDescriptor{addr,
                       {uint8_t(len), uint8_t(len >> 8), uint8_t(len >> 16), uint8_t(key),
                        uint8_t(key >> 8), uint8_t(key >> 16), uint8_t(key >> 24)},
                       sgl_id(kSglKeyedDataBlock, invalidate ? kSglSubInvalidate : kSglSubAddress)};
}

// NVMe/TCP host buffer transferred with R2T / C2HData PDUs.
constexpr SglDescriptor make_tcp_transport_sgl(uint32_t len) {
  return SglDescriptor{0,
                       {uint8_t(len), uint8_t(len >> 8), uint8_t(len >> 16), uint8_t(len >> 24),
                        0, 0, 0},
                       sgl_id(kSglTransportDataBlock, kSglSubTransportA)};
}

// Classification of the single data descriptor in a fabrics command's DPTR.
enum class DataSglKind : uint8_t {
  InCapsule,      // data follows the SQE in the command capsule
  Keyed,          // RDMA remote memory (addr, key)
  TcpTransport,   // NVMe/TCP R2T / C2HData transfer
  HostAddress,    // plain memory address: only meaningful on PCIe
  Unsupported,    // segments, bit bucket, reserved types/subtypes
};

struct DataSgl {
  DataSglKind kind;
  uint64_t addr;    // remote address, or offset for InCapsule
  uint32_t length;  // bytes
  uint32_t key;     // Keyed only
  bool invalidate;  // Keyed only: remote invalidate requested
};

constexpr DataSgl decode_data_sgl(const SglDescriptor& d) {
  switch (d.type()) {
    case kSglDataBlock:
      if (d.subtype() == kSglSubOffset)
        return {DataSglKind::InCapsule, d.addr, d.length(), 0, false};
      if (d.subtype() == kSglSubAddress)
        return {DataSglKind::HostAddress, d.addr, d.length(), 0, false};
      break;
    case kSglKeyedDataBlock:
      if (d.subtype() == kSglSubAddress || d.subtype() == kSglSubInvalidate)
        return {DataSglKind::Keyed, d.addr, d.keyed_length(), d.key(),
                d.subtype() == kSglSubInvalidate};
      break;
    case kSglTransportDataBlock:
      if (d.subtype() == kSglSubTransportA)
        return {DataSglKind::TcpTransport, 0, d.length(), 0, false};
      break;
  }
  return {DataSglKind::Unsupported, d.addr, 0, 0, false};
}

// Read / Write / Write Zeroes: SLBA in CDW10-11, NLB (0's based) in CDW12.
constexpr uint64_t rw_slba(const SubmissionEntry& e) {
  return uint64_t(e.cdw11) << 32 | e.cdw10;
}
constexpr uint32_t rw_nlb(const SubmissionEntry& e) { return (e.cdw12 & 0xffff) + 1; }
inline constexpr uint32_t kRwFua = 1u << 30;  // CDW12 Force Unit Access

// Dataset Management: CDW10 NR (0's based range count), CDW11 attributes.
constexpr uint32_t dsm_nr_ranges(const SubmissionEntry& e) { return (e.cdw10 & 0xff) + 1; }
inline constexpr uint32_t kDsmDeallocate = 1u << 2;
inline constexpr uint32_t kDsmMaxRanges = 256;

// Get/Set Features: FID in CDW10 bits 7:0; Set Features SV (save) in bit 31.
constexpr uint8_t feature_id(const SubmissionEntry& e) { return uint8_t(e.cdw10); }
inline constexpr uint32_t kSetFeaturesSave = 1u << 31;

// Number of Queues feature value (CDW11 on set, DW0 on completion):
// NSQR in bits 15:0, NCQR in bits 31:16, both 0's based. nsq, ncq >= 1.
constexpr uint32_t make_num_queues(uint16_t nsq, uint16_t ncq) {
  return uint32_t(ncq - 1) << 16 | uint16_t(nsq - 1);
}

}  // namespace rdmagate::spec
