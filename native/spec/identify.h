// Identify command data structures (NVMe Base 2.0 5.17, NVM Command Set 1.0
// 4.1.5): Identify Controller, Identify Namespace, namespace id descriptors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "util/endian.h"

namespace rdmagate::spec {

inline constexpr size_t kIdentifyDataSize = 4096;

// Controller or Namespace Structure, CDW10 bits 7:0.
enum IdentifyCns : uint8_t {
  kCnsNamespace = 0x00,
  kCnsController = 0x01,
  kCnsActiveNsList = 0x02,
  kCnsNsDescList = 0x03,
};
constexpr uint8_t identify_cns(uint32_t cdw10) { return uint8_t(cdw10); }
constexpr uint16_t identify_cntid(uint32_t cdw10) { return uint16_t(cdw10 >> 16); }

#pragma pack(push, 1)

struct PowerStateDescriptor {
  uint16_t mp;  // maximum power, centiwatts
  uint8_t rsvd2;
  uint8_t flags;
  uint32_t enlat;  // entry latency, us
  uint32_t exlat;  // exit latency, us
  uint8_t rrt;
  uint8_t rrl;
  uint8_t rwt;
  uint8_t rwl;
  uint16_t idlp;
  uint8_t ips;
  uint8_t rsvd19;
  uint16_t actp;
  uint8_t apws;
  uint8_t rsvd23[9];
};
static_assert(sizeof(PowerStateDescriptor) == 32);

struct IdentifyController {
  // Controller capabilities and features.
  uint16_t vid;
  uint16_t ssvid;
  char sn[20];  // ASCII, space padded
  char mn[40];  // ASCII, space padded
  char fr[8];   // ASCII, space padded
  uint8_t rab;
  uint8_t ieee[3];
  uint8_t cmic;
  uint8_t mdts;  // max transfer = 2^mdts * min page size; 0 = unlimited
  uint16_t cntlid;
  uint32_t ver;
  uint32_t rtd3r;
  uint32_t rtd3e;
  uint32_t oaes;
  uint32_t ctratt;
  uint16_t rrls;
  uint8_t rsvd102[9];
  uint8_t cntrltype;
  uint8_t fguid[16];
  uint16_t crdt1;
  uint16_t crdt2;
  uint16_t crdt3;
  uint8_t rsvd134[119];
  uint8_t nvmsr;
  uint8_t vwci;
  uint8_t mec;
  // Admin command set attributes and optional capabilities.
  uint16_t oacs;
  uint8_t acl;   // abort command limit, 0's based
  uint8_t aerl;  // async event request limit, 0's based
  uint8_t frmw;
  uint8_t lpa;
  uint8_t elpe;
  uint8_t npss;
  uint8_t avscc;
  uint8_t apsta;
  uint16_t wctemp;
  uint16_t cctemp;
  uint16_t mtfa;
  uint32_t hmpre;
  uint32_t hmmin;
  uint8_t tnvmcap[16];
  uint8_t unvmcap[16];
  uint32_t rpmbs;
  uint16_t edstt;
  uint8_t dsto;
  uint8_t fwug;
  uint16_t kas;  // keep alive granularity, 100 ms units
  uint16_t hctma;
  uint16_t mntmt;
  uint16_t mxtmt;
  uint32_t sanicap;
  uint32_t hmminds;
  uint16_t hmmaxd;
  uint16_t nsetidmax;
  uint16_t endgidmax;
  uint8_t anatt;
  uint8_t anacap;
  uint32_t anagrpmax;
  uint32_t nanagrpid;
  uint32_t pels;
  uint16_t domainid;
  uint8_t rsvd358[10];
  uint8_t megcap[16];
  uint8_t rsvd384[128];
  // NVM command set attributes.
  uint8_t sqes;  // bits 3:0 required, 7:4 maximum (log2 bytes)
  uint8_t cqes;
  uint16_t maxcmd;
  uint32_t nn;
  uint16_t oncs;
  uint16_t fuses;
  uint8_t fna;
  uint8_t vwc;
  uint16_t awun;
  uint16_t awupf;
  uint8_t icsvscc;
  uint8_t nwpc;
  uint16_t acwu;
  uint16_t ocfs;
  uint32_t sgls;
  uint32_t mnan;
  uint8_t maxdna[16];
  uint32_t maxcna;
  uint8_t rsvd564[204];
  char subnqn[256];  // NUL padded
  uint8_t rsvd1024[768];
  // NVMe over Fabrics attributes.
  uint32_t ioccsz;  // I/O command capsule size, 16-byte units
  uint32_t iorcsz;  // I/O response capsule size, 16-byte units
  uint16_t icdoff;  // in-capsule data offset, 16-byte units
  uint8_t fcatt;
  uint8_t msdbd;  // max SGL data block descriptors per command
  uint16_t ofcs;
  uint8_t dctype;
  uint8_t rsvd1807[241];
  PowerStateDescriptor psd[32];
  uint8_t vs[1024];
};
static_assert(sizeof(IdentifyController) == kIdentifyDataSize);
static_assert(offsetof(IdentifyController, sn) == 4);
static_assert(offsetof(IdentifyController, mn) == 24);
static_assert(offsetof(IdentifyController, fr) == 64);
static_assert(offsetof(IdentifyController, mdts) == 77);
static_assert(offsetof(IdentifyController, cntlid) == 78);
static_assert(offsetof(IdentifyController, ver) == 80);
static_assert(offsetof(IdentifyController, cntrltype) == 111);
static_assert(offsetof(IdentifyController, fguid) == 112);
static_assert(offsetof(IdentifyController, nvmsr) == 253);
static_assert(offsetof(IdentifyController, oacs) == 256);
static_assert(offsetof(IdentifyController, kas) == 320);
static_assert(offsetof(IdentifyController, anagrpmax) == 344);
static_assert(offsetof(IdentifyController, sqes) == 512);
static_assert(offsetof(IdentifyController, cqes) == 513);
static_assert(offsetof(IdentifyController, maxcmd) == 514);
static_assert(offsetof(IdentifyController, nn) == 516);
static_assert(offsetof(IdentifyController, oncs) == 520);
static_assert(offsetof(IdentifyController, vwc) == 525);
static_assert(offsetof(IdentifyController, sgls) == 536);
static_assert(offsetof(IdentifyController, mnan) == 540);
static_assert(offsetof(IdentifyController, subnqn) == 768);
static_assert(offsetof(IdentifyController, ioccsz) == 1792);
static_assert(offsetof(IdentifyController, iorcsz) == 1796);
static_assert(offsetof(IdentifyController, icdoff) == 1800);
static_assert(offsetof(IdentifyController, msdbd) == 1803);
static_assert(offsetof(IdentifyController, ofcs) == 1804);
static_assert(offsetof(IdentifyController, psd) == 2048);
static_assert(offsetof(IdentifyController, vs) == 3072);

struct LbaFormat {
  uint16_t ms;   // metadata bytes per LBA
  uint8_t lbads;  // LBA data size, log2 bytes
  uint8_t rp;    // relative performance, bits 1:0
};
static_assert(sizeof(LbaFormat) == 4);

struct IdentifyNamespace {
  uint64_t nsze;  // size in logical blocks
  uint64_t ncap;
  uint64_t nuse;
  uint8_t nsfeat;
  uint8_t nlbaf;  // number of LBA formats, 0's based
  uint8_t flbas;  // format in use: bits 3:0 low, 6:5 high index bits
  uint8_t mc;
  uint8_t dpc;
  uint8_t dps;
  uint8_t nmic;
  uint8_t rescap;
  uint8_t fpi;
  uint8_t dlfeat;
  uint16_t nawun;
  uint16_t nawupf;
  uint16_t nacwu;
  uint16_t nabsn;
  uint16_t nabo;
  uint16_t nabspf;
  uint16_t noiob;
  uint8_t nvmcap[16];
  uint16_t npwg;
  uint16_t npwa;
  uint16_t npdg;
  uint16_t npda;
  uint16_t nows;
  uint16_t mssrl;
  uint32_t mcl;
  uint8_t msrc;
  uint8_t rsvd81[11];
  uint32_t anagrpid;
  uint8_t rsvd96[3];
  uint8_t nsattr;
  uint16_t nvmsetid;
  uint16_t endgid;
  uint8_t nguid[16];
  uint8_t eui64[8];
  LbaFormat lbaf[64];
  uint8_t vs[3712];
};
static_assert(sizeof(IdentifyNamespace) == kIdentifyDataSize);
static_assert(offsetof(IdentifyNamespace, nsfeat) == 24);
static_assert(offsetof(IdentifyNamespace, flbas) == 26);
static_assert(offsetof(IdentifyNamespace, dlfeat) == 33);
static_assert(offsetof(IdentifyNamespace, nvmcap) == 48);
static_assert(offsetof(IdentifyNamespace, anagrpid) == 92);
static_assert(offsetof(IdentifyNamespace, nguid) == 104);
static_assert(offsetof(IdentifyNamespace, eui64) == 120);
static_assert(offsetof(IdentifyNamespace, lbaf) == 128);
static_assert(offsetof(IdentifyNamespace, vs) == 384);

// Namespace Identification Descriptor header; nidl bytes of id follow.
struct NsIdDescriptor {
  uint8_t nidt;
  uint8_t nidl;
  uint16_t rsvd2;
};
static_assert(sizeof(NsIdDescriptor) == 4);

#pragma pack(pop)

enum NsIdType : uint8_t {
  kNidtEui64 = 0x1,
  kNidtNguid = 0x2,
  kNidtUuid = 0x3,
  kNidtCsi = 0x4,
};

// Required NIDL for each NIDT; 0 for unknown types.
constexpr uint8_t nid_length(uint8_t nidt) {
  switch (nidt) {
    case kNidtEui64: return 8;
    case kNidtNguid: return 16;
    case kNidtUuid: return 16;
    case kNidtCsi: return 1;
  }
  return 0;
}

// IdentifyController::cntrltype.
enum ControllerType : uint8_t {
  kCntrlTypeIo = 1,
  kCntrlTypeDiscovery = 2,
  kCntrlTypeAdmin = 3,
};

// IdentifyController::oncs (optional NVM commands).
inline constexpr uint16_t kOncsDsm = 1u << 2;
inline constexpr uint16_t kOncsWriteZeroes = 1u << 3;
// IdentifyController::vwc.
inline constexpr uint8_t kVwcPresent = 1u << 0;
// IdentifyController::sgls.
inline constexpr uint32_t kSglsSupported = 1u << 0;  // no alignment requirement
inline constexpr uint32_t kSglsKeyedDataBlock = 1u << 2;
inline constexpr uint32_t kSglsOffset = 1u << 20;  // in-capsule data offsets
// IdentifyController::fcatt: set for the static controller model.
inline constexpr uint8_t kFcattStaticModel = 1u << 0;
// IdentifyController::ofcs: Disconnect command supported.
inline constexpr uint16_t kOfcsDisconnect = 1u << 0;
// IdentifyController::lpa: extended data / Get Log Page offsets supported.
inline constexpr uint8_t kLpaExtendedData = 1u << 2;
// IdentifyController::cmic: may be reached through several controllers.
inline constexpr uint8_t kCmicMultiController = 1u << 1;
inline constexpr uint8_t kCmicAna = 1u << 3;

// Index of the LBA format in use (FLBAS bits 3:0 low, 6:5 high).
constexpr uint8_t flbas_index(uint8_t flbas) {
  return uint8_t((flbas & 0x0f) | (flbas & 0x60) >> 1);
}

// Stores s space padded (sn, mn, fr); truncates if s is longer than the field.
template <size_t N>
constexpr void set_ascii_field(char (&field)[N], std::string_view s) {
  for (size_t i = 0; i < N; ++i) field[i] = i < s.size() ? s[i] : ' ';
}

}  // namespace rdmagate::spec
