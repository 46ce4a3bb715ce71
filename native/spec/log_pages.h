// Log pages a fabrics controller serves (NVMe Base 2.0 5.16, NVMe-oF 1.1
// 5.3 Discovery), Get Log Page command decoding and Asynchronous Event
// completion encoding.
#pragma once

#include <cstddef>
#include <cstdint>

#include "util/endian.h"

namespace rdmagate::spec {

enum LogId : uint8_t {
  kLogError = 0x01,
  kLogSmart = 0x02,
  kLogFwSlot = 0x03,
  kLogChangedNs = 0x04,
  kLogCmdEffects = 0x05,
  kLogAna = 0x0c,
  kLogDiscovery = 0x70,
};

// Get Log Page CDW10..13.
struct GetLogPageArgs {
  uint8_t lid;
  uint8_t lsp;      // log specific field
  bool rae;         // retain asynchronous event
  uint64_t numd;    // dwords to return (1's based, up to 2^32)
  uint16_t lsi;     // log specific identifier
  uint64_t offset;  // byte offset into the log page

  constexpr uint64_t length_bytes() const { return numd * 4; }
};

constexpr GetLogPageArgs decode_get_log_page(uint32_t cdw10, uint32_t cdw11, uint32_t cdw12,
                                             uint32_t cdw13) {
  // CDW10: LID 7:0, LSP 14:8, RAE 15, NUMDL 31:16. CDW11: NUMDU 15:0, LSI 31:16.
  // NUMD is 0's based across NUMDU:NUMDL; LPOU:LPOL form a 64-bit offset.
  return GetLogPageArgs{uint8_t(cdw10),
                        uint8_t((cdw10 >> 8) & 0x7f),
                        ((cdw10 >> 15) & 0x1) != 0,
                        ((uint64_t(cdw11 & 0xffff) << 16) | (cdw10 >> 16)) + 1,
                        uint16_t(cdw11 >> 16),
                        uint64_t(cdw13) << 32 | cdw12};
}

// ANA log LSP bit 0: Return Groups Only (omit the NSID lists).
inline constexpr uint8_t kAnaLspRgo = 1u << 0;

#pragma pack(push, 1)

struct ErrorLogEntry {
  uint64_t error_count;  // unique, increasing; 0 = empty entry
  uint16_t sqid;
  uint16_t cid;
  uint16_t status;  // bit 0 phase, 15:1 status field as in the CQE
  uint16_t param_error_location;  // bits 7:0 byte, 10:8 bit in the SQE
  uint64_t lba;
  uint32_t nsid;
  uint8_t vs;
  uint8_t trtype;
  uint8_t rsvd30[2];
  uint64_t csi;  // command specific information
  uint16_t ttsi;  // transport type specific information
  uint8_t rsvd42[22];
};
static_assert(sizeof(ErrorLogEntry) == 64);
static_assert(offsetof(ErrorLogEntry, lba) == 16);
static_assert(offsetof(ErrorLogEntry, trtype) == 29);
static_assert(offsetof(ErrorLogEntry, csi) == 32);

// SMART / Health Information. 128-bit counters are little-endian byte arrays.
struct SmartLog {
  uint8_t critical_warning;
  uint16_t composite_temp;  // kelvin
  uint8_t avail_spare;
  uint8_t spare_thresh;
  uint8_t percent_used;
  uint8_t endgrp_crit_warning;
  uint8_t rsvd7[25];
  uint8_t data_units_read[16];  // thousands of 512-byte units
  uint8_t data_units_written[16];
  uint8_t host_reads[16];
  uint8_t host_writes[16];
  uint8_t ctrl_busy_time[16];
  uint8_t power_cycles[16];
  uint8_t power_on_hours[16];
  uint8_t unsafe_shutdowns[16];
  uint8_t media_errors[16];
  uint8_t num_err_log_entries[16];
  uint32_t warning_temp_time;
  uint32_t critical_temp_time;
  uint16_t temp_sensor[8];
  uint32_t thm_temp1_trans_count;
  uint32_t thm_temp2_trans_count;
  uint32_t thm_temp1_total_time;
  uint32_t thm_temp2_total_time;
  uint8_t rsvd232[280];
};
static_assert(sizeof(SmartLog) == 512);
static_assert(offsetof(SmartLog, data_units_read) == 32);
static_assert(offsetof(SmartLog, warning_temp_time) == 192);
static_assert(offsetof(SmartLog, temp_sensor) == 200);

// Changed Namespace List: up to 1024 NSIDs, zero terminated; a first entry
// of 0xffffffff means more than 1024 namespaces changed.
struct ChangedNsList {
  uint32_t nsid[1024];
};
static_assert(sizeof(ChangedNsList) == 4096);

// ANA log: header, then ngrps group descriptors, each followed by nnsids
// NSIDs (unless RGO was requested).
struct AnaLogHeader {
  uint64_t chgcnt;
  uint16_t ngrps;
  uint8_t rsvd10[6];
};
static_assert(sizeof(AnaLogHeader) == 16);

struct AnaGroupDescriptor {
  uint32_t grpid;
  uint32_t nnsids;
  uint64_t chgcnt;
  uint8_t state;  // AnaState in bits 3:0
  uint8_t rsvd17[15];
};
static_assert(sizeof(AnaGroupDescriptor) == 32);

struct DiscoveryLogHeader {
  uint64_t genctr;  // changes whenever the log changes
  uint64_t numrec;  // number of DiscoveryLogEntry records that follow
  uint16_t recfmt;
  uint8_t rsvd18[1006];
};
static_assert(sizeof(DiscoveryLogHeader) == 1024);
static_assert(offsetof(DiscoveryLogHeader, recfmt) == 16);

// Transport specific address subtype of a discovery entry.
struct TsasRdma {
  uint8_t qptype;
  uint8_t prtype;
  uint8_t cms;
  uint8_t rsvd3[5];
  uint16_t pkey;
  uint8_t rsvd10[246];
};
static_assert(sizeof(TsasRdma) == 256);

struct TsasTcp {
  uint8_t sectype;
  uint8_t rsvd1[255];
};
static_assert(sizeof(TsasTcp) == 256);

union Tsas {
  TsasRdma rdma;
  TsasTcp tcp;
  uint8_t raw[256];
};
static_assert(sizeof(Tsas) == 256);

struct DiscoveryLogEntry {
  uint8_t trtype;
  uint8_t adrfam;
  uint8_t subtype;
  uint8_t treq;
  uint16_t portid;
  uint16_t cntlid;
  uint16_t asqsz;  // max admin SQ size
  uint16_t eflags;
  uint8_t rsvd12[20];
  char trsvcid[32];  // e.g. "4420"; NUL padded
  uint8_t rsvd64[192];
  char subnqn[256];
  char traddr[256];  // e.g. "192.0.2.1"; NUL padded
  Tsas tsas;
};
static_assert(sizeof(DiscoveryLogEntry) == 1024);
static_assert(offsetof(DiscoveryLogEntry, portid) == 4);
static_assert(offsetof(DiscoveryLogEntry, asqsz) == 8);
static_assert(offsetof(DiscoveryLogEntry, trsvcid) == 32);
static_assert(offsetof(DiscoveryLogEntry, subnqn) == 256);
static_assert(offsetof(DiscoveryLogEntry, traddr) == 512);
static_assert(offsetof(DiscoveryLogEntry, tsas) == 768);

#pragma pack(pop)

// ANA states (AnaGroupDescriptor::state).
enum AnaState : uint8_t {
  kAnaOptimized = 0x01,
  kAnaNonOptimized = 0x02,
  kAnaInaccessible = 0x03,
  kAnaPersistentLoss = 0x04,
  kAnaChange = 0x0f,
};

// Bytes taken by one ANA group descriptor and its NSID list.
constexpr uint64_t ana_group_size(uint32_t nnsids) {
  return sizeof(AnaGroupDescriptor) + uint64_t(nnsids) * 4;
}

// Discovery log entry values.
enum TransportType : uint8_t {
  kTrtypeRdma = 1,
  kTrtypeFc = 2,
  kTrtypeTcp = 3,
  kTrtypeLoop = 254,  // reserved for host-internal use
};

enum AddressFamily : uint8_t {
  kAdrfamIpv4 = 1,
  kAdrfamIpv6 = 2,
  kAdrfamIb = 3,
  kAdrfamFc = 4,
};

enum SubsystemType : uint8_t {
  kSubtypeDiscoveryReferral = 1,
  kSubtypeNvme = 2,
  kSubtypeCurrentDiscovery = 3,
};

// DiscoveryLogEntry::treq bits 1:0 (secure channel) and SQ flow control.
enum TransportRequirements : uint8_t {
  kTreqNotSpecified = 0,
  kTreqRequired = 1,
  kTreqNotRequired = 2,
  kTreqDisableSqFlow = 1u << 2,
};

// TsasRdma fields.
inline constexpr uint8_t kRdmaQptypeConnected = 1;
inline constexpr uint8_t kRdmaPrtypeNotSpecified = 1;
inline constexpr uint8_t kRdmaPrtypeIb = 2;
inline constexpr uint8_t kRdmaPrtypeRoce = 3;
inline constexpr uint8_t kRdmaPrtypeRocev2 = 4;
inline constexpr uint8_t kRdmaPrtypeIwarp = 5;
inline constexpr uint8_t kRdmaCmsRdmaCm = 1;
// TsasTcp::sectype.
inline constexpr uint8_t kTcpSectypeNone = 0;
inline constexpr uint8_t kTcpSectypeTls12 = 1;
inline constexpr uint8_t kTcpSectypeTls13 = 2;

// Asynchronous Event Request completion DW0: type 2:0, info 15:8, log 23:16.
enum AsyncEventType : uint8_t {
  kAerError = 0,
  kAerSmart = 1,
  kAerNotice = 2,
  kAerImmediate = 3,
  kAerIoCommandSet = 6,
  kAerVendor = 7,
};

// Event information for kAerNotice.
enum AsyncNotice : uint8_t {
  kAerNoticeNsAttrChanged = 0x00,  // read kLogChangedNs to clear
  kAerNoticeFwActivation = 0x01,
  kAerNoticeTelemetry = 0x02,
  kAerNoticeAnaChange = 0x03,      // read kLogAna to clear
  kAerNoticeDiscoveryChange = 0xf0,  // read kLogDiscovery to clear
};

constexpr uint32_t make_async_event(uint8_t type, uint8_t info, uint8_t log_id) {
  return uint32_t(type & 0x7) | uint32_t(info) << 8 | uint32_t(log_id) << 16;
}
constexpr uint8_t async_event_type(uint32_t dw0) { return dw0 & 0x7; }
constexpr uint8_t async_event_info(uint32_t dw0) { return uint8_t(dw0 >> 8); }
constexpr uint8_t async_event_log(uint32_t dw0) { return uint8_t(dw0 >> 16); }

// Asynchronous Event Configuration feature (kFeatAsyncEventConfig) bits
// enabling each notice.
inline constexpr uint32_t kAecNsAttr = 1u << 8;
inline constexpr uint32_t kAecFwActivation = 1u << 9;
inline constexpr uint32_t kAecAnaChange = 1u << 11;
inline constexpr uint32_t kAecDiscoveryChange = 1u << 31;

}  // namespace rdmagate::spec
