// Unit tests for native/spec: wire layouts, status and field helpers, the
// NQN validator and NVMe/TCP header validation.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "spec/fabrics.h"
#include "spec/identify.h"
#include "spec/log_pages.h"
#include "spec/nvme.h"
#include "spec/rdma_cm.h"
#include "spec/status.h"
#include "spec/tcp_pdu.h"

using namespace rdmagate::spec;

namespace {

template <class T>
std::vector<uint8_t> bytes_of(const T& v) {
  std::vector<uint8_t> b(sizeof(T));
  std::memcpy(b.data(), &v, sizeof(T));
  return b;
}

void test_layouts() {
  CHECK_EQ(sizeof(SubmissionEntry), 64);
  CHECK_EQ(sizeof(CompletionEntry), 16);
  CHECK_EQ(sizeof(SglDescriptor), 16);
  CHECK_EQ(sizeof(DsmRange), 16);
  CHECK_EQ(offsetof(SubmissionEntry, dptr), 24);
  CHECK_EQ(offsetof(SubmissionEntry, cdw10), 40);
  CHECK_EQ(offsetof(CompletionEntry, status), 14);

  CHECK_EQ(sizeof(ConnectCommand), 64);
  CHECK_EQ(sizeof(PropertyGetCommand), 64);
  CHECK_EQ(sizeof(PropertySetCommand), 64);
  CHECK_EQ(sizeof(ConnectData), 1024);
  CHECK_EQ(offsetof(ConnectCommand, kato), 48);
  CHECK_EQ(offsetof(ConnectData, subnqn), 256);
  CHECK_EQ(offsetof(ConnectData, hostnqn), 512);

  CHECK_EQ(sizeof(IdentifyController), 4096);
  CHECK_EQ(sizeof(IdentifyNamespace), 4096);
  CHECK_EQ(offsetof(IdentifyController, sn), 4);
  CHECK_EQ(offsetof(IdentifyController, mn), 24);
  CHECK_EQ(offsetof(IdentifyController, mdts), 77);
  CHECK_EQ(offsetof(IdentifyController, cntlid), 78);
  CHECK_EQ(offsetof(IdentifyController, cntrltype), 111);
  CHECK_EQ(offsetof(IdentifyController, kas), 320);
  CHECK_EQ(offsetof(IdentifyController, sqes), 512);
  CHECK_EQ(offsetof(IdentifyController, maxcmd), 514);
  CHECK_EQ(offsetof(IdentifyController, nn), 516);
  CHECK_EQ(offsetof(IdentifyController, vwc), 525);
  CHECK_EQ(offsetof(IdentifyController, sgls), 536);
  CHECK_EQ(offsetof(IdentifyController, subnqn), 768);
  CHECK_EQ(offsetof(IdentifyController, ioccsz), 1792);
  CHECK_EQ(offsetof(IdentifyNamespace, nguid), 104);
  CHECK_EQ(offsetof(IdentifyNamespace, eui64), 120);
  CHECK_EQ(offsetof(IdentifyNamespace, lbaf), 128);

  CHECK_EQ(sizeof(ErrorLogEntry), 64);
  CHECK_EQ(sizeof(SmartLog), 512);
  CHECK_EQ(sizeof(ChangedNsList), 4096);
  CHECK_EQ(sizeof(AnaLogHeader), 16);
  CHECK_EQ(sizeof(AnaGroupDescriptor), 32);
  CHECK_EQ(sizeof(DiscoveryLogHeader), 1024);
  CHECK_EQ(sizeof(DiscoveryLogEntry), 1024);
  CHECK_EQ(offsetof(DiscoveryLogEntry, trsvcid), 32);
  CHECK_EQ(offsetof(DiscoveryLogEntry, tsas), 768);
  CHECK_EQ(offsetof(DiscoveryLogEntry, tsas) + offsetof(TsasRdma, pkey), 776);

  CHECK_EQ(sizeof(CommonHeader), 8);
  CHECK_EQ(sizeof(IcReqPdu), 128);
  CHECK_EQ(sizeof(IcRespPdu), 128);
  CHECK_EQ(sizeof(TermReqPdu), 24);
  CHECK_EQ(sizeof(CapsuleCmdPdu), 72);
  CHECK_EQ(sizeof(CapsuleRespPdu), 24);
  CHECK_EQ(sizeof(DataPdu), 24);
  CHECK_EQ(sizeof(R2tPdu), 24);

  CHECK_EQ(sizeof(RdmaCmRequest), 32);
  CHECK_EQ(sizeof(RdmaCmAccept), 32);
  CHECK_EQ(sizeof(RdmaCmReject), 4);
}

void test_completion_status() {
  CompletionEntry cqe{};
  CHECK(cqe.code().ok());
  cqe.status = 0x1;  // phase tag survives set_status
  cqe.set_status(status::kConnectInvalidParam, /*dnr=*/true);
  // SC 0x82, SCT 1, DNR: the Linux (phase-less) encoding is 0x4182.
  CHECK_EQ(cqe.status, 0x8305);
  CHECK(cqe.phase());
  CHECK_EQ(cqe.sc(), 0x82);
  CHECK_EQ(cqe.sct(), kSctCommandSpecific);
  CHECK(cqe.dnr());
  CHECK(!cqe.more());
  CHECK(cqe.code() == status::kConnectInvalidParam);

  cqe.status = 0;
  cqe.set_status(status::kAnaTransition, false, /*more=*/true);
  CHECK_EQ(cqe.status, 0x4000 | 0x3 << 9 | 0x03 << 1);
  CHECK(!cqe.dnr());
  CHECK(cqe.more());
  CHECK(cqe.code() == status::kAnaTransition);

  cqe.status = 0xffff;
  CHECK_EQ(cqe.sc(), 0xff);
  CHECK_EQ(cqe.sct(), 7);
  cqe.set_status(status::kSuccess);
  CHECK_EQ(cqe.status, 1);

  // CQE bytes: status is the last little-endian u16.
  CompletionEntry e{};
  e.cid = 0x1234;
  e.set_status(status::kInvalidField);
  auto b = bytes_of(e);
  CHECK_EQ(b[12], 0x34);
  CHECK_EQ(b[13], 0x12);
  CHECK_EQ(b[14], 0x04);
  CHECK_EQ(b[15], 0x00);
}

void test_status_values() {
  CHECK_EQ(status::kInvalidOpcode.sc, 0x01);
  CHECK_EQ(status::kDataSglLengthInvalid.sc, 0x0f);
  CHECK_EQ(status::kSglDescriptorTypeInvalid.sc, 0x11);
  CHECK_EQ(status::kSglOffsetInvalid.sc, 0x16);
  CHECK_EQ(status::kKeepAliveExpired.sc, 0x19);
  CHECK_EQ(status::kNsNotReady.sc, 0x82);
  CHECK_EQ(status::kNsNotReady.sct, kSctGeneric);
  CHECK_EQ(status::kInvalidLogPage.sc, 0x09);
  CHECK_EQ(status::kInvalidLogPage.sct, kSctCommandSpecific);
  CHECK_EQ(status::kConnectInvalidHost.sc, 0x84);
  CHECK_EQ(status::kInvalidQueueType.sc, 0x85);
  CHECK_EQ(status::kHostPathError.sc, 0x70);
  CHECK_EQ(status::kHostPathError.sct, kSctPath);
  CHECK(status::kLbaRange != status::kConnectIncompatibleFormat);

  static_assert(std::string_view(status_name(status::kSuccess)) == "success");
  CHECK_EQ(std::string_view(status_name(status::kLbaRange)), "LBA out of range");
  CHECK_EQ(std::string_view(status_name(status::kConnectIncompatibleFormat)),
           "connect: incompatible format");
  CHECK_EQ(std::string_view(status_name(kSctPath, 0x02)), "asymmetric access inaccessible");
  CHECK_EQ(std::string_view(status_name(kSctMedia, 0x81)), "unrecovered read error");
  CHECK_EQ(std::string_view(status_name(kSctGeneric, 0x7e)), "unknown status");
  CHECK_EQ(std::string_view(status_name(5, 0x00)), "unknown status");
  // Every named status has a specific name.
  for (Status s : {status::kCidConflict, status::kCmdSeqError, status::kSqDeletion,
                   status::kAbortReq, status::kInternal, status::kInvalidNs,
                   status::kInvalidQid, status::kInvalidQueueSize, status::kAbortLimit,
                   status::kAerLimit, status::kFeatureNotSaveable,
                   status::kConnectControllerBusy, status::kConnectRestartDiscovery,
                   status::kInternalPathError, status::kControllerPathingError,
                   status::kWriteFault, status::kKeepAliveInvalid}) {
    CHECK(std::string_view(status_name(s)) != "unknown status");
  }
}

void test_sqe_helpers() {
  SubmissionEntry e{};
  e.opcode = kIoWrite;
  e.flags = kFuseSecond | kPsdtSglMptrBuffer << kPsdtShift;
  e.cdw10 = 0x89abcdef;
  e.cdw11 = 0x01234567;
  e.cdw12 = 0x000000ff | kRwFua;
  CHECK_EQ(sqe_fuse(e.flags), kFuseSecond);
  CHECK_EQ(sqe_psdt(e.flags), kPsdtSglMptrBuffer);
  CHECK_EQ(rw_slba(e), 0x0123456789abcdefull);
  CHECK_EQ(rw_nlb(e), 256);
  CHECK_EQ(opcode_direction(kIoWrite), kXferHostToController);
  CHECK_EQ(opcode_direction(kIoRead), kXferControllerToHost);
  CHECK_EQ(opcode_direction(kIoFlush), kXferNone);
  CHECK_EQ(opcode_direction(kAdminIdentify), kXferControllerToHost);
  CHECK_EQ(opcode_direction(kAdminSetFeatures), kXferHostToController);
  CHECK_EQ(opcode_direction(kOpcodeFabrics), kXferBidirectional);

  e.cdw10 = 0xffffff00;
  CHECK_EQ(dsm_nr_ranges(e), 1);
  e.cdw10 = 0xff;
  CHECK_EQ(dsm_nr_ranges(e), kDsmMaxRanges);
  e.cdw10 = kSetFeaturesSave | kFeatKeepAliveTimer;
  CHECK_EQ(feature_id(e), kFeatKeepAliveTimer);
  CHECK_EQ(make_num_queues(1, 1), 0u);
  CHECK_EQ(make_num_queues(8, 4), 0x00030007u);

  CHECK_EQ(kAdminKeepAlive, 0x18);
  CHECK_EQ(kAdminAsyncEvent, 0x0c);
  CHECK_EQ(kIoWriteZeroes, 0x08);
  CHECK_EQ(kIoDsm, 0x09);
  CHECK_EQ(kFeatAsyncEventConfig, 0x0b);
}

void test_sgl() {
  SglDescriptor k = make_keyed_sgl(0x1122334455667788ull, 0x00abcdef, 0xdeadbeef, true);
  auto b = bytes_of(k);
  CHECK_EQ(b[0], 0x88);
  CHECK_EQ(b[7], 0x11);
  CHECK_EQ(b[8], 0xef);
  CHECK_EQ(b[10], 0xab);
  CHECK_EQ(b[11], 0xef);
  CHECK_EQ(b[14], 0xde);
  CHECK_EQ(b[15], 0x4f);
  DataSgl d = decode_data_sgl(k);
  CHECK_EQ(d.kind, DataSglKind::Keyed);
  CHECK_EQ(d.addr, 0x1122334455667788ull);
  CHECK_EQ(d.length, 0x00abcdefu);
  CHECK_EQ(d.key, 0xdeadbeefu);
  CHECK(d.invalidate);
  CHECK(!decode_data_sgl(make_keyed_sgl(0, 16, 1, false)).invalidate);
  // 24-bit length field truncates.
  CHECK_EQ(decode_data_sgl(make_keyed_sgl(0, 0x01000010, 1, false)).length, 0x10u);

  SglDescriptor ic = make_incapsule_sgl(0, 4096);
  CHECK_EQ(ic.id, 0x01);
  d = decode_data_sgl(ic);
  CHECK_EQ(d.kind, DataSglKind::InCapsule);
  CHECK_EQ(d.length, 4096u);

  SglDescriptor t = make_tcp_transport_sgl(0x20000);
  CHECK_EQ(t.id, 0x5a);
  d = decode_data_sgl(t);
  CHECK_EQ(d.kind, DataSglKind::TcpTransport);
  CHECK_EQ(d.length, 0x20000u);

  CHECK_EQ(decode_data_sgl(make_data_block_sgl(0x1000, 512, kSglSubAddress)).kind,
           DataSglKind::HostAddress);

  for (uint8_t id : {0x02, 0x0f, 0x10, 0x20, 0x30, 0x41, 0x50, 0x51, 0x60, 0xf0, 0xff}) {
    SglDescriptor s{};
    s.id = id;
    CHECK_EQ(decode_data_sgl(s).kind, DataSglKind::Unsupported);
  }

  // In-capsule bounds.
  CHECK(check_incapsule_sgl(decode_data_sgl(make_incapsule_sgl(0, 1024)), 1024).ok());
  CHECK(check_incapsule_sgl(decode_data_sgl(make_incapsule_sgl(0, 0)), 0).ok());
  CHECK(check_incapsule_sgl(decode_data_sgl(make_incapsule_sgl(512, 512)), 1024).ok());
  CHECK(check_incapsule_sgl(decode_data_sgl(make_incapsule_sgl(0, 1025)), 1024) ==
        status::kDataSglLengthInvalid);
  CHECK(check_incapsule_sgl(decode_data_sgl(make_incapsule_sgl(1000, 100)), 1024) ==
        status::kDataSglLengthInvalid);
  CHECK(check_incapsule_sgl(decode_data_sgl(make_incapsule_sgl(2048, 0)), 1024) ==
        status::kSglOffsetInvalid);
  CHECK(check_incapsule_sgl(decode_data_sgl(make_incapsule_sgl(0xffffffff, 0xffffffff)), 1024) ==
        status::kSglOffsetInvalid);
  CHECK(check_incapsule_sgl(decode_data_sgl(make_tcp_transport_sgl(8)), 8) ==
        status::kSglDescriptorTypeInvalid);
}

void test_fabrics_commands() {
  ConnectCommand c{};
  c.opcode = kOpcodeFabrics;
  c.fctype = kFctConnect;
  c.qid = 3;
  c.sqsize = 127;
  c.kato = 120000;
  c.sgl = make_incapsule_sgl(0, sizeof(ConnectData));
  SubmissionEntry sqe;
  static_assert(sizeof(sqe) == sizeof(c));
  std::memcpy(&sqe, &c, sizeof(c));
  CHECK_EQ(sqe.opcode, 0x7f);
  CHECK_EQ(sqe.cdw10, 3u << 16);
  CHECK_EQ(sqe.cdw11, 127u);
  CHECK_EQ(sqe.cdw12, 120000u);
  CHECK_EQ(decode_data_sgl(sqe.dptr.sgl).length, 1024u);
  FabricsCommand f;
  std::memcpy(&f, &sqe, sizeof(f));
  CHECK_EQ(f.fctype, kFctConnect);

  CHECK_EQ(kFctPropertySet, 0x00);
  CHECK_EQ(kFctPropertyGet, 0x04);
  CHECK_EQ(kFctAuthSend, 0x05);
  CHECK_EQ(kFctAuthRecv, 0x06);
  CHECK_EQ(kFctDisconnect, 0x08);

  PropertySetCommand ps{};
  ps.attrib = kPropSize8;
  ps.offset = kPropCc;
  ps.value = 0x0046'0001;
  std::memcpy(&sqe, &ps, sizeof(ps));
  CHECK_EQ(property_size_attr(uint8_t(sqe.cdw10)), kPropSize8);
  CHECK_EQ(sqe.cdw11, 0x14u);
  CHECK_EQ(sqe.cdw12, 0x00460001u);

  CHECK_EQ(connect_result(7), 7u);
  CHECK_EQ(connect_result_cntlid(0x00060007u), 7);
  uint32_t dw0 = connect_invalid_data_field(offsetof(ConnectData, hostnqn));
  CHECK(connect_invalid_in_data(dw0));
  CHECK_EQ(connect_invalid_offset(dw0), 512);
  dw0 = connect_invalid_sqe_field(offsetof(ConnectCommand, qid));
  CHECK(!connect_invalid_in_data(dw0));
  CHECK_EQ(connect_invalid_offset(dw0), 42);
}

void test_properties() {
  CHECK_EQ(property_width(kPropCap), 8u);
  CHECK_EQ(property_width(kPropVs), 4u);
  CHECK_EQ(property_width(kPropCc), 4u);
  CHECK_EQ(property_width(kPropCsts), 4u);
  CHECK_EQ(property_width(kPropNssr), 4u);
  CHECK_EQ(property_width(0x0c), 0u);
  CHECK_EQ(property_width(0x04), 0u);

  uint64_t cap = make_cap(127, true, 30, kCapCssNvm, 0, 4);
  CHECK_EQ(cap_mqes(cap), 127);
  CHECK(cap_cqr(cap));
  CHECK_EQ(cap_to(cap), 30);
  CHECK_EQ(cap_css(cap), kCapCssNvm);
  CHECK_EQ(cap_mpsmin(cap), 0);
  CHECK_EQ(cap_mpsmax(cap), 4);
  CHECK_EQ(cap, 0x004000201e01007full);

  CHECK_EQ(make_version(1, 4, 0), 0x00010400u);
  CHECK_EQ(make_version(2, 0, 1), 0x00020001u);

  // Linux host enable value: EN, CSS NVM, MPS 0, AMS RR, IOSQES 6, IOCQES 4.
  uint32_t cc = 0x00460001;
  CHECK(cc_en(cc));
  CHECK_EQ(cc_css(cc), 0);
  CHECK_EQ(cc_mps(cc), 0);
  CHECK_EQ(cc_ams(cc), 0);
  CHECK_EQ(cc_shn(cc), kShnNone);
  CHECK_EQ(cc_iosqes(cc), kSqesLog2);
  CHECK_EQ(cc_iocqes(cc), kCqesLog2);
  cc = 1u << 14 | 3u << 11 | 5u << 7 | 7u << 4;
  CHECK(!cc_en(cc));
  CHECK_EQ(cc_shn(cc), kShnNormal);
  CHECK_EQ(cc_ams(cc), 3);
  CHECK_EQ(cc_mps(cc), 5);
  CHECK_EQ(cc_css(cc), 7);

  uint32_t csts = kCstsRdy;
  csts = csts_set_shst(csts, kShstOccurring);
  CHECK_EQ(csts, 0x5u);
  CHECK_EQ(csts_shst(csts), kShstOccurring);
  csts = csts_set_shst(csts | kCstsCfs, kShstComplete);
  CHECK_EQ(csts, 0xbu);
  CHECK_EQ(csts_shst(csts), kShstComplete);
}

void test_nqn() {
  static_assert(valid_nqn(kDiscoveryNqn));
  CHECK(valid_nqn("nqn.2014-08.org.nvmexpress.discovery"));
  CHECK(valid_nqn("nqn.2014-08.com.example:nvme:nvm-subsystem-sn-d78432"));
  CHECK(valid_nqn("nqn.2016-06.io.spdk:cnode1"));
  CHECK(valid_nqn("nqn.2024-12.dev.rdmagate:target-01"));
  CHECK(valid_nqn("nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"));
  CHECK(valid_nqn("nqn.2014-08.org.nvmexpress:uuid:F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"));
  CHECK(valid_nqn("nqn.1999-12.a-b.c1:x"));
  CHECK(valid_nqn("nqn.2014-08.com.example:\xc3\xa9t\xc3\xa9"));  // UTF-8 user part

  std::string longest = "nqn.2014-08.com.example:";
  longest.append(kNqnMaxLen - longest.size(), 'x');
  CHECK_EQ(longest.size(), 223u);
  CHECK(valid_nqn(longest));
  CHECK(!valid_nqn(longest + "x"));

  const char* bad[] = {
      "",
      "nqn.",
      "nqn.2014-08",
      "nqn.2014-08.",
      "nqn.2014-08.com.example",       // no ':' + user string
      "nqn.2014-08.com.example:",      // empty user string
      "nqn.2014-13.com.example:x",     // month 13
      "nqn.2014-00.com.example:x",     // month 0
      "nqn.14-08.com.example:x",       // 2-digit year
      "nqn.2014-8.com.example:x",      // 1-digit month
      "nqn.2014_08.com.example:x",
      "nqn.2014-08com.example:x",
      "nqn.2014-08.example:x",         // single-label domain
      "nqn.2014-08.com..example:x",    // empty label
      "nqn.2014-08..com.example:x",
      "nqn.2014-08.com.example.:x",
      "nqn.2014-08.com.-example:x",    // label starts with '-'
      "nqn.2014-08.com.example-:x",
      "nqn.2014-08.com.exa_mple:x",
      "nqn.2014-08.com.example:x\ny",  // control character
      "nqn.2014-08.com.example:x\x7f",
      "NQN.2014-08.com.example:x",
      "iqn.2014-08.com.example:x",
      "nqn.2014-08.org.nvmexpress:uuid:",
      "nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf",
      "nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6a",
      "nqn.2014-08.org.nvmexpress:uuid:f81d4fae7dec-11d0-a765-00a0c91e6bf6-",
      "nqn.2014-08.org.nvmexpress:uuid:g81d4fae-7dec-11d0-a765-00a0c91e6bf6",
      "nqn.2014-08.org.nvmexpress.discovery ",
      "nqn.2014-08.org.nvmexpress.discoveryx",
  };
  for (const char* n : bad) {
    if (valid_nqn(n)) check::fail(__FILE__, __LINE__, std::string("accepted: ") + n);
    ++check::g_checks;
  }
  // Embedded NUL is not part of a valid NQN.
  CHECK(!valid_nqn(std::string_view("nqn.2014-08.com.example:a\0b", 27)));

  ConnectData cd{};
  CHECK(set_field(cd.subnqn, kDiscoveryNqn));
  CHECK_EQ(field_view(cd.subnqn), kDiscoveryNqn);
  CHECK(!set_field(cd.hostnqn, std::string(256, 'a')));  // no room for the NUL
  CHECK_EQ(field_view(cd.hostnqn).size(), 0u);
  std::memset(cd.hostnqn, 'a', sizeof(cd.hostnqn));  // peer sent no NUL
  CHECK_EQ(field_view(cd.hostnqn).size(), 256u);
  CHECK(!valid_nqn(field_view(cd.hostnqn)));
}

void test_identify() {
  IdentifyController id{};
  set_ascii_field(id.mn, "rdmagate");
  CHECK_EQ(std::string_view(id.mn, 9), "rdmagate ");
  CHECK_EQ(id.mn[39], ' ');
  set_ascii_field(id.fr, "0123456789");
  CHECK_EQ(std::string_view(id.fr, 8), "01234567");
  CHECK(set_field(id.subnqn, "nqn.2016-06.io.spdk:cnode1"));
  auto b = bytes_of(id);
  CHECK_EQ(b[768], 'n');
  CHECK_EQ(b[24], 'r');

  CHECK_EQ(identify_cns(0x00010001u), kCnsController);
  CHECK_EQ(identify_cntid(0x00050001u), 5);
  CHECK_EQ(flbas_index(0x00), 0);
  CHECK_EQ(flbas_index(0x13), 3);  // bit 4 (metadata) is not part of the index
  CHECK_EQ(flbas_index(0x61), 0x31);
  CHECK_EQ(nid_length(kNidtEui64), 8);
  CHECK_EQ(nid_length(kNidtNguid), 16);
  CHECK_EQ(nid_length(kNidtUuid), 16);
  CHECK_EQ(nid_length(kNidtCsi), 1);
  CHECK_EQ(nid_length(0), 0);
  CHECK_EQ(kCnsActiveNsList, 0x02);
  CHECK_EQ(kCnsNsDescList, 0x03);
}

void test_log_pages() {
  // Linux-style discovery read: LID 0x70, NUMD 1023 (4 KiB), offset 4096.
  GetLogPageArgs a = decode_get_log_page(0x03ff0070, 0, 4096, 0);
  CHECK_EQ(a.lid, kLogDiscovery);
  CHECK_EQ(a.lsp, 0);
  CHECK(!a.rae);
  CHECK_EQ(a.numd, 1024u);
  CHECK_EQ(a.length_bytes(), 4096u);
  CHECK_EQ(a.offset, 4096u);

  a = decode_get_log_page(0xffff810c, 0x1234ffff, 0x89abcdef, 0x01234567);
  CHECK_EQ(a.lid, kLogAna);
  CHECK_EQ(a.lsp, kAnaLspRgo);
  CHECK(a.rae);
  CHECK_EQ(a.numd, 0x100000000ull);
  CHECK_EQ(a.length_bytes(), 0x400000000ull);
  CHECK_EQ(a.lsi, 0x1234);
  CHECK_EQ(a.offset, 0x0123456789abcdefull);
  CHECK_EQ(decode_get_log_page(0x7f00, 0, 0, 0).lsp, 0x7f);

  uint32_t aen = make_async_event(kAerNotice, kAerNoticeNsAttrChanged, kLogChangedNs);
  CHECK_EQ(aen, 0x00040002u);
  CHECK_EQ(async_event_type(aen), kAerNotice);
  CHECK_EQ(async_event_info(aen), kAerNoticeNsAttrChanged);
  CHECK_EQ(async_event_log(aen), kLogChangedNs);
  CHECK_EQ(make_async_event(kAerNotice, kAerNoticeDiscoveryChange, kLogDiscovery), 0x0070f002u);

  CHECK_EQ(ana_group_size(0), 32u);
  CHECK_EQ(ana_group_size(3), 44u);
  CHECK_EQ(ana_group_size(0xffffffffu), 32 + 4 * 0xffffffffull);

  DiscoveryLogEntry e{};
  e.trtype = kTrtypeTcp;
  e.adrfam = kAdrfamIpv4;
  e.subtype = kSubtypeNvme;
  e.tsas.tcp.sectype = kTcpSectypeNone;
  CHECK(set_field(e.traddr, "192.0.2.10"));
  CHECK(set_field(e.trsvcid, "4420"));
  auto b = bytes_of(e);
  CHECK_EQ(b[0], 3);
  CHECK_EQ(b[1], 1);
  CHECK_EQ(b[2], 2);
  CHECK_EQ(b[32], '4');
  CHECK_EQ(b[512], '1');
  e.tsas.rdma.pkey = 0xffff;
  b = bytes_of(e);
  CHECK_EQ(b[776], 0xff);
  CHECK_EQ(kTrtypeRdma, 1);
  CHECK_EQ(kTrtypeLoop, 254);
  CHECK_EQ(kSubtypeCurrentDiscovery, 3);
}

void test_rdma_cm() {
  RdmaCmRequest r{};
  r.qid = 1;
  r.hrqsize = 128;
  r.hsqsize = 127;
  r.cntlid = 5;
  auto b = bytes_of(r);
  CHECK_EQ(b[2], 1);
  CHECK_EQ(b[4], 128);
  CHECK_EQ(b[6], 127);
  CHECK_EQ(b[8], 5);
  CHECK_EQ(kRdmaCmInvalidCntlid, 9);
  CHECK_EQ(std::string_view(rdma_cm_reject_name(kRdmaCmInvalidIrd)), "invalid IRD");
  CHECK_EQ(std::string_view(rdma_cm_reject_name(0)), "unknown reject status");
}

// --- NVMe/TCP header validation -------------------------------------------

struct Conn {
  bool hdgst = false;
  bool ddgst = false;
  uint8_t pda = 0;
  uint32_t maxh2cdata = 8192;
  Direction dir = Direction::HostToController;
};

PduError validate(const CommonHeader& h, const Conn& c) {
  return validate_header(h, c.hdgst, c.ddgst, c.pda, c.maxh2cdata, c.dir);
}

PduCheck run_check(const std::vector<uint8_t>& buf, const Conn& c, PduError& err) {
  return check_pdu(buf.data(), buf.size(), c.hdgst, c.ddgst, c.pda, c.maxh2cdata, c.dir, err);
}

PduError invalid(size_t off) { return PduError{kFesInvalidHeaderField, uint32_t(off)}; }

CommonHeader hdr(uint8_t type, uint8_t flags, uint8_t hlen, uint8_t pdo, uint32_t plen) {
  return CommonHeader{type, flags, hlen, pdo, plen};
}

std::vector<uint8_t> icreq_bytes(uint16_t pfv, uint8_t hpda) {
  IcReqPdu p{};
  p.hdr = hdr(kPduIcReq, 0, 128, 0, 128);
  p.pfv = pfv;
  p.hpda = hpda;
  p.digest = kIcDigestHeader | kIcDigestData;
  return bytes_of(p);
}

std::vector<uint8_t> data_pdu_bytes(uint8_t type, uint8_t flags, uint8_t pdo, uint32_t plen,
                                    uint32_t datal) {
  DataPdu p{};
  p.hdr = hdr(type, flags, 24, pdo, plen);
  p.datal = datal;
  return bytes_of(p);
}

void test_tcp_valid() {
  Conn t;  // controller receiving from host, no digests
  PduError err;

  CHECK_EQ(run_check(icreq_bytes(kTcpPfv10, 0), t, err), PduCheck::Ok);
  CHECK(err.ok());

  // Command capsule without and with in-capsule data.
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 0, 72), t).ok());
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 72, 72 + 4096), t).ok());
  CHECK(validate(hdr(kPduH2CData, kPduFlagDataLast, 24, 24, 24 + 8192), t).ok());
  CHECK(validate(hdr(kPduH2CTermReq, 0, 24, 0, 24), t).ok());
  CHECK(validate(hdr(kPduH2CTermReq, 0, 24, 0, 152), t).ok());

  Conn d = t;  // both digests
  d.hdgst = d.ddgst = true;
  CHECK(validate(hdr(kPduCapsuleCmd, kPduFlagHdgst, 72, 0, 76), d).ok());
  CHECK(validate(hdr(kPduCapsuleCmd, kPduFlagHdgst | kPduFlagDdgst, 72, 76, 76 + 512 + 4), d)
            .ok());
  CHECK(validate(hdr(kPduH2CData, kPduFlagHdgst | kPduFlagDdgst, 24, 28, 28 + 100 + 4), d).ok());
  // ICReq / TermReq never carry digests, even when negotiated.
  CHECK(validate(hdr(kPduIcReq, 0, 128, 0, 128), d).ok());
  CHECK(validate(hdr(kPduH2CTermReq, 0, 24, 0, 24), d).ok());

  Conn h;  // host receiving from controller
  h.dir = Direction::ControllerToHost;
  IcRespPdu ir{};
  ir.hdr = hdr(kPduIcResp, 0, 128, 0, 128);
  ir.maxh2cdata = 131072;
  CHECK_EQ(run_check(bytes_of(ir), h, err), PduCheck::Ok);
  CHECK(validate(hdr(kPduCapsuleResp, 0, 24, 0, 24), h).ok());
  CHECK(validate(hdr(kPduC2HData, kPduFlagDataLast | kPduFlagDataSuccess, 24, 24, 1024), h).ok());
  CHECK(validate(hdr(kPduC2HData, 0, 24, 24, 25), h).ok());
  CHECK(validate(hdr(kPduC2HTermReq, 0, 24, 0, 24 + 72), h).ok());
  R2tPdu r2t{};
  r2t.hdr = hdr(kPduR2T, 0, 24, 0, 24);
  r2t.r2tl = 65536;
  CHECK_EQ(run_check(bytes_of(r2t), h, err), PduCheck::Ok);

  CHECK_EQ(run_check(data_pdu_bytes(kPduC2HData, kPduFlagDataLast, 24, 24 + 512, 512), h, err),
           PduCheck::Ok);

  // Alignment: CPDA 1 = 8 bytes, CPDA 3 = 16 bytes.
  Conn a = t;
  a.pda = 1;
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 72, 80), a).ok());
  a.pda = 3;
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 80, 88), a).ok());
  CHECK(validate(hdr(kPduH2CData, 0, 24, 32, 40), a).ok());
  CHECK(validate(hdr(kPduH2CData, 0, 24, 48, 56), a).ok());  // extra padding allowed

  CHECK_EQ(pdu_data_offset(kPduCapsuleCmd, false, 0), 72);
  CHECK_EQ(pdu_data_offset(kPduCapsuleCmd, true, 0), 76);
  CHECK_EQ(pdu_data_offset(kPduCapsuleCmd, false, 3), 80);
  CHECK_EQ(pdu_data_offset(kPduH2CData, true, 1), 32);
  CHECK_EQ(pdu_data_offset(kPduCapsuleCmd, true, kTcpMaxPda), 128);

  CommonHeader c = hdr(kPduCapsuleCmd, kPduFlagHdgst, 72, 0, 76);
  CHECK_EQ(pdu_header_length(c, true), 76u);
  CHECK_EQ(pdu_header_length(c, false), 72u);
  CHECK_EQ(pdu_header_length(hdr(kPduIcReq, 0, 128, 0, 128), true), 128u);
}

void test_tcp_invalid_common() {
  Conn t;
  Conn h;
  h.dir = Direction::ControllerToHost;
  const size_t kType = offsetof(CommonHeader, type);
  const size_t kFlags = offsetof(CommonHeader, flags);
  const size_t kHlen = offsetof(CommonHeader, hlen);
  const size_t kPdo = offsetof(CommonHeader, pdo);
  const size_t kPlen = offsetof(CommonHeader, plen);

  // Unknown types and types flowing the wrong way.
  for (uint8_t type : {0x08, 0x0a, 0x10, 0x7f, 0xff})
    CHECK(validate(hdr(type, 0, 24, 0, 24), t) == invalid(kType));
  CHECK(validate(hdr(kPduCapsuleResp, 0, 24, 0, 24), t) == invalid(kType));
  CHECK(validate(hdr(kPduR2T, 0, 24, 0, 24), t) == invalid(kType));
  CHECK(validate(hdr(kPduIcResp, 0, 128, 0, 128), t) == invalid(kType));
  CHECK(validate(hdr(kPduC2HData, 0, 24, 24, 32), t) == invalid(kType));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 0, 72), h) == invalid(kType));
  CHECK(validate(hdr(kPduH2CData, 0, 24, 24, 32), h) == invalid(kType));
  CHECK(validate(hdr(kPduIcReq, 0, 128, 0, 128), h) == invalid(kType));

  // Wrong hlen.
  CHECK(validate(hdr(kPduIcReq, 0, 127, 0, 128), t) == invalid(kHlen));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 64, 0, 64), t) == invalid(kHlen));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 0, 0, 72), t) == invalid(kHlen));
  CHECK(validate(hdr(kPduH2CData, 0, 255, 0, 1000), t) == invalid(kHlen));
  CHECK(validate(hdr(kPduCapsuleResp, 0, 16, 0, 24), h) == invalid(kHlen));

  // plen below the header, above it with no data, or absurd.
  CHECK(validate(hdr(kPduIcReq, 0, 128, 0, 127), t) == invalid(kPlen));
  CHECK(validate(hdr(kPduIcReq, 0, 128, 0, 129), t) == invalid(kPlen));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 0, 8), t) == invalid(kPlen));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 0, 0), t) == invalid(kPlen));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 0, 200), t) == invalid(kPlen));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 72, 72), t) == invalid(kPlen));  // pdo, no data
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 72, 0xffffffff), t) == invalid(kPlen));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 72, 71), t) == invalid(kPlen));
  CHECK(validate(hdr(kPduCapsuleResp, 0, 24, 0, 23), h) == invalid(kPlen));
  CHECK(validate(hdr(kPduR2T, 0, 24, 0, 0xffffffff), h) == invalid(kPlen));
  CHECK(validate(hdr(kPduH2CTermReq, 0, 24, 0, 23), t) == invalid(kPlen));
  CHECK(validate(hdr(kPduH2CTermReq, 0, 24, 0, 153), t) == invalid(kPlen));
  CHECK(validate(hdr(kPduC2HTermReq, 0, 24, 0, 0x80000000), h) == invalid(kPlen));
  CHECK(validate(hdr(kPduC2HData, 0, 24, 24, 24), h) == invalid(kPlen));
  CHECK(validate(hdr(kPduC2HData, 0, 24, 24, 24 + 8193), h) == invalid(kPlen));
  CHECK(validate(hdr(kPduC2HData, 0, 24, 24, 0xffffffff), h) == invalid(kPlen));

  // H2C data beyond MAXH2CDATA is its own fatal error.
  CHECK(validate(hdr(kPduH2CData, 0, 24, 24, 24 + 8193), t) ==
        (PduError{kFesDataLimitExceeded, 0}));
  CHECK(validate(hdr(kPduH2CData, 0, 24, 24, 0xffffffff), t) ==
        (PduError{kFesDataLimitExceeded, 0}));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 72, 72 + 8193), t) == invalid(kPlen));

  // pdo: set on data-less PDUs, inside the header, misaligned.
  CHECK(validate(hdr(kPduIcReq, 0, 128, 128, 128), t) == invalid(kPdo));
  CHECK(validate(hdr(kPduCapsuleResp, 0, 24, 24, 24), h) == invalid(kPdo));
  CHECK(validate(hdr(kPduR2T, 0, 24, 24, 24), h) == invalid(kPdo));
  CHECK(validate(hdr(kPduH2CTermReq, 0, 24, 24, 48), t) == invalid(kPdo));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 8, 100), t) == invalid(kPdo));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 71, 100), t) == invalid(kPdo));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 73, 100), t) == invalid(kPdo));
  CHECK(validate(hdr(kPduH2CData, 0, 24, 0, 100), t) == invalid(kPdo));
  CHECK(validate(hdr(kPduH2CData, 0, 24, 255, 300), t) == invalid(kPdo));
  CHECK(validate(hdr(kPduC2HData, 0, 24, 0, 100), h) == invalid(kPdo));
  Conn a = t;
  a.pda = 3;  // 16-byte alignment
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 72, 100), a) == invalid(kPdo));
  CHECK(validate(hdr(kPduH2CData, 0, 24, 24, 100), a) == invalid(kPdo));
  Conn hd = t;
  hd.hdgst = true;
  // Data must start after the header digest.
  CHECK(validate(hdr(kPduCapsuleCmd, kPduFlagHdgst, 72, 72, 100), hd) == invalid(kPdo));
  CHECK(validate(hdr(kPduH2CData, kPduFlagHdgst, 24, 24, 100), hd) == invalid(kPdo));

  // Digest flags must match the negotiated digests.
  CHECK(validate(hdr(kPduCapsuleCmd, kPduFlagHdgst, 72, 0, 76), t) == invalid(kFlags));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 0, 72), hd) == invalid(kFlags));
  CHECK(validate(hdr(kPduCapsuleCmd, kPduFlagDdgst, 72, 0, 72), t) == invalid(kFlags));
  CHECK(validate(hdr(kPduCapsuleCmd, kPduFlagDdgst, 72, 72, 80), t) == invalid(kFlags));
  Conn dd = t;
  dd.ddgst = true;
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 72, 84), dd) == invalid(kFlags));
  CHECK(validate(hdr(kPduH2CData, 0, 24, 24, 36), dd) == invalid(kFlags));
  // No data, so no data digest even when negotiated.
  CHECK(validate(hdr(kPduCapsuleCmd, kPduFlagDdgst, 72, 0, 72), dd) == invalid(kFlags));
  CHECK(validate(hdr(kPduCapsuleCmd, 0, 72, 0, 72), dd).ok());
  // Data digest needs room: plen must cover pdo + data + digest.
  CHECK(validate(hdr(kPduH2CData, kPduFlagDdgst, 24, 24, 28), dd) == invalid(kPlen));
  CHECK(validate(hdr(kPduC2HData, kPduFlagDataSuccess, 24, 24, 32), h) == invalid(kFlags));
}

void test_tcp_invalid_fields() {
  Conn t;
  Conn h;
  h.dir = Direction::ControllerToHost;
  PduError err;

  CHECK_EQ(run_check(icreq_bytes(1, 0), t, err), PduCheck::Invalid);
  CHECK(err == (PduError{kFesUnsupportedParam, 8}));
  CHECK_EQ(run_check(icreq_bytes(kTcpPfv10, 32), t, err), PduCheck::Invalid);
  CHECK(err == invalid(offsetof(IcReqPdu, hpda)));
  CHECK_EQ(run_check(icreq_bytes(kTcpPfv10, 31), t, err), PduCheck::Ok);

  IcRespPdu ir{};
  ir.hdr = hdr(kPduIcResp, 0, 128, 0, 128);
  for (uint32_t bad : {0u, 4095u, 4097u, 8190u}) {
    ir.maxh2cdata = bad;
    CHECK_EQ(run_check(bytes_of(ir), h, err), PduCheck::Invalid);
    CHECK(err == invalid(12));
  }
  ir.maxh2cdata = 4096;
  ir.cpda = 200;
  CHECK_EQ(run_check(bytes_of(ir), h, err), PduCheck::Invalid);
  CHECK(err == invalid(10));

  TermReqPdu tr{};
  tr.hdr = hdr(kPduH2CTermReq, 0, 24, 0, 24);
  for (uint16_t fes : {0, 7, 0xffff}) {
    tr.fes = fes;
    CHECK_EQ(run_check(bytes_of(tr), t, err), PduCheck::Invalid);
    CHECK(err == invalid(8));
  }
  tr.fes = kFesHeaderDigestError;
  CHECK_EQ(run_check(bytes_of(tr), t, err), PduCheck::Ok);

  // DATAL must match the PDU's data bytes.
  CHECK_EQ(run_check(data_pdu_bytes(kPduH2CData, 0, 24, 24 + 512, 511), t, err), PduCheck::Invalid);
  CHECK(err == invalid(16));
  CHECK_EQ(run_check(data_pdu_bytes(kPduH2CData, 0, 24, 24 + 512, 0xffffffff), t, err),
           PduCheck::Invalid);
  CHECK_EQ(run_check(data_pdu_bytes(kPduC2HData, 0, 24, 24 + 512, 0), h, err), PduCheck::Invalid);
  CHECK(err == invalid(16));
  Conn dd = t;
  dd.ddgst = true;
  CHECK_EQ(run_check(data_pdu_bytes(kPduH2CData, kPduFlagDdgst, 24, 24 + 512 + 4, 512), dd, err),
           PduCheck::Ok);
  CHECK_EQ(run_check(data_pdu_bytes(kPduH2CData, kPduFlagDdgst, 24, 24 + 512 + 4, 516), dd, err),
           PduCheck::Invalid);

  R2tPdu r2t{};
  r2t.hdr = hdr(kPduR2T, 0, 24, 0, 24);
  CHECK_EQ(run_check(bytes_of(r2t), h, err), PduCheck::Invalid);
  CHECK(err == invalid(16));
}

void test_tcp_truncated() {
  Conn t;
  PduError err;
  auto full = icreq_bytes(kTcpPfv10, 0);
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> part(full.begin(), full.begin() + long(n));
    CHECK_EQ(run_check(part, t, err), PduCheck::NeedMore);
    CHECK(err.ok());
  }
  // A bad common header is reported as soon as its 8 bytes are in.
  auto bad = icreq_bytes(kTcpPfv10, 0);
  bad[2] = 24;  // hlen
  std::vector<uint8_t> first8(bad.begin(), bad.begin() + 8);
  CHECK_EQ(run_check(first8, t, err), PduCheck::Invalid);
  CHECK(err == invalid(2));
  // With a header digest the digest bytes are part of the header.
  Conn hd = t;
  hd.hdgst = true;
  CapsuleCmdPdu cmd{};
  cmd.hdr = hdr(kPduCapsuleCmd, kPduFlagHdgst, 72, 0, 76);
  auto b = bytes_of(cmd);
  CHECK_EQ(run_check(b, hd, err), PduCheck::NeedMore);
  b.resize(76);
  CHECK_EQ(run_check(b, hd, err), PduCheck::Ok);
}

void test_term_req() {
  TermReqPdu p = make_term_req(Direction::HostToController, PduError{kFesInvalidHeaderField, 2},
                               72);
  CHECK_EQ(p.hdr.type, kPduC2HTermReq);
  CHECK_EQ(p.hdr.hlen, 24);
  CHECK_EQ(p.hdr.pdo, 0);
  CHECK_EQ(p.hdr.plen, 96u);
  CHECK_EQ(p.fes, kFesInvalidHeaderField);
  CHECK_EQ(p.fei, 2u);
  p = make_term_req(Direction::ControllerToHost, PduError{kFesR2tLimitExceeded, 0}, 1000);
  CHECK_EQ(p.hdr.type, kPduH2CTermReq);
  CHECK_EQ(p.hdr.plen, kTermReqMaxLen);
  // What we send passes our own receive checks.
  Conn h;
  h.dir = Direction::ControllerToHost;
  CHECK(validate(make_term_req(Direction::HostToController, PduError{kFesPduSequenceError, 0},
                               128)
                     .hdr,
                 h)
            .ok());
}

// Random headers: validation must never crash (ASan/UBSan watch this) and
// anything accepted must be self-consistent.
void test_tcp_random() {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  auto next = [&s] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  std::vector<uint8_t> buf(160);
  int accepted = 0;
  for (int i = 0; i < 200000; ++i) {
    for (auto& byte : buf) byte = uint8_t(next());
    // Bias toward plausible headers so the deeper checks run.
    buf[0] = uint8_t(next() % 12);
    buf[2] = pdu_hlen(buf[0]) ? pdu_hlen(buf[0]) : buf[2];
    if (next() % 2) buf[3] = 0;
    if (next() % 2) {
      uint32_t plen = uint32_t(next() % 300);
      std::memcpy(&buf[4], &plen, 4);
    }
    Conn c;
    c.hdgst = next() & 1;
    c.ddgst = next() & 1;
    c.pda = uint8_t(next() % 4);
    c.maxh2cdata = uint32_t(next() % 16384);
    c.dir = next() & 1 ? Direction::HostToController : Direction::ControllerToHost;
    size_t len = next() % (buf.size() + 1);
    PduError err;
    PduCheck r =
        check_pdu(buf.data(), len, c.hdgst, c.ddgst, c.pda, c.maxh2cdata, c.dir, err);
    if (r == PduCheck::Ok) {
      ++accepted;
      CommonHeader h;
      std::memcpy(&h, buf.data(), sizeof(h));
      if (!(h.plen >= h.hlen && h.hlen == pdu_hlen(h.type) && len >= h.hlen &&
            (h.pdo == 0 || (h.pdo >= h.hlen && h.pdo < h.plen)))) {
        check::fail(__FILE__, __LINE__, "accepted inconsistent header");
      }
    } else if (r == PduCheck::Invalid) {
      if (err.ok()) check::fail(__FILE__, __LINE__, "Invalid without FES");
    }
  }
  ++check::g_checks;
  CHECK(accepted > 0);
}

}  // namespace

int main() {
  test_layouts();
  test_completion_status();
  test_status_values();
  test_sqe_helpers();
  test_sgl();
  test_fabrics_commands();
  test_properties();
  test_nqn();
  test_identify();
  test_log_pages();
  test_rdma_cm();
  test_tcp_valid();
  test_tcp_invalid_common();
  test_tcp_invalid_fields();
  test_tcp_truncated();
  test_term_req();
  test_tcp_random();
  return check::report("test_spec");
}
