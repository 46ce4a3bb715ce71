#include "target/discovery_log.h"

#include <cstring>

#include "spec/fabrics.h"
#include "spec/log_pages.h"
#include "target/target.h"

namespace rdmagate::target {

using namespace spec;

namespace {

template <size_t N>
void put(char (&field)[N], const std::string& s) {
  memset(field, 0, N);
  memcpy(field, s.data(), std::min(s.size(), N - 1));
}

DiscoveryLogEntry entry(const ListenerInfo& l, const std::string& nqn, uint8_t subtype) {
  DiscoveryLogEntry e;
  memset(&e, 0, sizeof e);
  e.adrfam = l.ipv6 ? kAdrfamIpv6 : kAdrfamIpv4;
  e.subtype = subtype;
  // Hosts may turn SQ flow control off.
  e.treq = (l.secure_channel ? kTreqRequired : kTreqNotSpecified) | kTreqDisableSqFlow;
  e.portid = l.portid;
  e.cntlid = kCntlidDynamic;
  e.asqsz = 32;
  put(e.trsvcid, std::to_string(l.trsvcid));
  put(e.subnqn, nqn);
  put(e.traddr, l.traddr);
  if (const TransportOps* transport = find_transport(l.trtype)) transport->describe(e, l);  // TRTYPE, TSAS
  return e;
}

}  // namespace

std::vector<uint8_t> build_discovery_log(const Target& target, const std::string& hostnqn) {
  std::vector<DiscoveryLogEntry> entries;
  auto listeners = target.listeners();
  for (auto& s : target.subsystems()) {
    if (s->type() == Subsystem::Type::kDiscovery) continue;
    if (!s->host_allowed(hostnqn)) continue;
    for (auto& l : listeners)
      if (s->listener_allowed(l.portid)) entries.push_back(entry(l, s->nqn(), kSubtypeNvme));
  }
  for (auto& l : listeners) entries.push_back(entry(l, std::string(kDiscoveryNqn), kSubtypeCurrentDiscovery));

  std::vector<uint8_t> page(sizeof(DiscoveryLogHeader) + entries.size() * sizeof(DiscoveryLogEntry), 0);
  DiscoveryLogHeader h;
  memset(&h, 0, sizeof h);
  h.genctr = target.discovery_generation();
  h.numrec = entries.size();
  h.recfmt = 0;
  memcpy(page.data(), &h, sizeof h);
  if (!entries.empty())
    memcpy(page.data() + sizeof h, entries.data(), entries.size() * sizeof(DiscoveryLogEntry));
  return page;
}

}  // namespace rdmagate::target
