// NVMe completion status: Status Code Type (SCT) + Status Code (SC).
//
// Values from NVMe Base 2.0 (Generic / Command Specific / Media / Path status
// tables) and NVMe-oF 1.1 (Fabrics command status). A Status always carries
// its SCT because SC values overlap across types (0x80 is LBA Out of Range
// when generic but Connect Incompatible Format when command specific).
#pragma once

#include <cstdint>

#include "util/endian.h"

namespace rdmagate::spec {

enum Sct : uint8_t {
  kSctGeneric = 0x0,
  kSctCommandSpecific = 0x1,
  kSctMedia = 0x2,
  kSctPath = 0x3,
  kSctVendor = 0x7,
};

struct Status {
  uint8_t sct;
  uint8_t sc;

  constexpr bool ok() const { return sct == kSctGeneric && sc == 0; }
  constexpr bool operator==(const Status& o) const { return sct == o.sct && sc == o.sc; }
  constexpr bool operator!=(const Status& o) const { return !(*this == o); }
};

namespace status {

// Generic command status (SCT 0).
inline constexpr Status kSuccess{kSctGeneric, 0x00};
inline constexpr Status kInvalidOpcode{kSctGeneric, 0x01};
inline constexpr Status kInvalidField{kSctGeneric, 0x02};
inline constexpr Status kCidConflict{kSctGeneric, 0x03};
inline constexpr Status kDataXferError{kSctGeneric, 0x04};
inline constexpr Status kAbortedPowerLoss{kSctGeneric, 0x05};
inline constexpr Status kInternal{kSctGeneric, 0x06};
inline constexpr Status kAbortReq{kSctGeneric, 0x07};
inline constexpr Status kSqDeletion{kSctGeneric, 0x08};
inline constexpr Status kInvalidNs{kSctGeneric, 0x0b};
inline constexpr Status kCmdSeqError{kSctGeneric, 0x0c};
inline constexpr Status kSglLastSegmentInvalid{kSctGeneric, 0x0d};
inline constexpr Status kDataSglLengthInvalid{kSctGeneric, 0x0f};
inline constexpr Status kSglDescriptorTypeInvalid{kSctGeneric, 0x11};
inline constexpr Status kSglOffsetInvalid{kSctGeneric, 0x16};
inline constexpr Status kHostIdInconsistent{kSctGeneric, 0x18};
inline constexpr Status kKeepAliveExpired{kSctGeneric, 0x19};
inline constexpr Status kKeepAliveInvalid{kSctGeneric, 0x1a};
inline constexpr Status kTransientTransportError{kSctGeneric, 0x22};
// Generic NVM command set status (SCT 0, SC 0x80..).
inline constexpr Status kLbaRange{kSctGeneric, 0x80};
inline constexpr Status kCapExceeded{kSctGeneric, 0x81};
inline constexpr Status kNsNotReady{kSctGeneric, 0x82};

// Command specific status (SCT 1). Only admin/fabrics meanings are named.
inline constexpr Status kInvalidQid{kSctCommandSpecific, 0x01};
inline constexpr Status kInvalidQueueSize{kSctCommandSpecific, 0x02};
inline constexpr Status kAbortLimit{kSctCommandSpecific, 0x03};
inline constexpr Status kAerLimit{kSctCommandSpecific, 0x05};
inline constexpr Status kInvalidLogPage{kSctCommandSpecific, 0x09};
inline constexpr Status kFeatureNotSaveable{kSctCommandSpecific, 0x0d};
inline constexpr Status kFeatureNotChangeable{kSctCommandSpecific, 0x0e};
inline constexpr Status kFeatureNotPerNs{kSctCommandSpecific, 0x0f};
// Fabrics Connect / Disconnect / Authentication.
inline constexpr Status kConnectIncompatibleFormat{kSctCommandSpecific, 0x80};
inline constexpr Status kConnectControllerBusy{kSctCommandSpecific, 0x81};
inline constexpr Status kConnectInvalidParam{kSctCommandSpecific, 0x82};
inline constexpr Status kConnectRestartDiscovery{kSctCommandSpecific, 0x83};
inline constexpr Status kConnectInvalidHost{kSctCommandSpecific, 0x84};
inline constexpr Status kInvalidQueueType{kSctCommandSpecific, 0x85};
inline constexpr Status kDiscoverRestart{kSctCommandSpecific, 0x90};
inline constexpr Status kAuthRequired{kSctCommandSpecific, 0x91};

// Media and data integrity errors (SCT 2).
inline constexpr Status kWriteFault{kSctMedia, 0x80};
inline constexpr Status kUnrecoveredReadError{kSctMedia, 0x81};

// Path related status (SCT 3).
inline constexpr Status kInternalPathError{kSctPath, 0x00};
inline constexpr Status kAnaPersistentLoss{kSctPath, 0x01};
inline constexpr Status kAnaInaccessible{kSctPath, 0x02};
inline constexpr Status kAnaTransition{kSctPath, 0x03};
inline constexpr Status kControllerPathingError{kSctPath, 0x60};
inline constexpr Status kHostPathError{kSctPath, 0x70};
inline constexpr Status kHostAbortedCommand{kSctPath, 0x71};

}  // namespace status

// Human-readable name for error messages; never returns null.
constexpr const char* status_name(uint8_t sct, uint8_t sc) {
  switch (sct) {
    case kSctGeneric:
      switch (sc) {
        case 0x00: return "success";
        case 0x01: return "invalid command opcode";
        case 0x02: return "invalid field in command";
        case 0x03: return "command id conflict";
        case 0x04: return "data transfer error";
        case 0x05: return "aborted due to power loss";
        case 0x06: return "internal error";
        case 0x07: return "command abort requested";
        case 0x08: return "aborted due to SQ deletion";
        case 0x0b: return "invalid namespace or format";
        case 0x0c: return "command sequence error";
        case 0x0d: return "invalid SGL last segment descriptor";
        case 0x0f: return "data SGL length invalid";
        case 0x11: return "SGL descriptor type invalid";
        case 0x16: return "SGL offset invalid";
        case 0x18: return "host identifier inconsistent format";
        case 0x19: return "keep alive timer expired";
        case 0x1a: return "keep alive timeout invalid";
        case 0x22: return "transient transport error";
        case 0x80: return "LBA out of range";
        case 0x81: return "capacity exceeded";
        case 0x82: return "namespace not ready";
      }
      break;
    case kSctCommandSpecific:
      switch (sc) {
        case 0x01: return "invalid queue identifier";
        case 0x02: return "invalid queue size";
        case 0x03: return "abort command limit exceeded";
        case 0x05: return "asynchronous event request limit exceeded";
        case 0x09: return "invalid log page";
        case 0x0d: return "feature identifier not saveable";
        case 0x0e: return "feature not changeable";
        case 0x0f: return "feature not namespace specific";
        case 0x80: return "connect: incompatible format";
        case 0x81: return "connect: controller busy";
        case 0x82: return "connect: invalid parameters";
        case 0x83: return "connect: restart discovery";
        case 0x84: return "connect: invalid host";
        case 0x85: return "invalid queue type";
        case 0x90: return "discover restart";
        case 0x91: return "authentication required";
      }
      break;
    case kSctMedia:
      switch (sc) {
        case 0x80: return "write fault";
        case 0x81: return "unrecovered read error";
      }
      break;
    case kSctPath:
      switch (sc) {
        case 0x00: return "internal path error";
        case 0x01: return "asymmetric access persistent loss";
        case 0x02: return "asymmetric access inaccessible";
        case 0x03: return "asymmetric access transition";
        case 0x60: return "controller pathing error";
        case 0x70: return "host pathing error";
        case 0x71: return "command aborted by host";
      }
      break;
  }
  return "unknown status";
}

constexpr const char* status_name(Status s) { return status_name(s.sct, s.sc); }

}  // namespace rdmagate::spec
