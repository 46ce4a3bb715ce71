// Unit tests for host::ControllerOptions: the reconnect delays with and without backoff.
// test-sources: native/host/options.cc native/rdma/loader.cc
#include <cstdint>

#include "check.h"
#include "host/options.h"

using namespace rdmagate;

namespace {

void test_constant_delay() {
  host::ControllerOptions o;
  o.reconnect_delay_ms = 2000;
  o.first_reconnect_delay_ms = 2000;  // Linux's behaviour: every attempt waits the same
  for (uint32_t n = 0; n < 10; ++n) CHECK_EQ(host::reconnect_delay_ms(o, n), uint64_t(2000));
}

void test_backoff_doubles_to_the_cap() {
  host::ControllerOptions o;
  o.reconnect_delay_ms = 2000;
  o.first_reconnect_delay_ms = 100;
  const uint64_t expected[] = {100, 200, 400, 800, 1600, 2000, 2000};
  for (uint32_t n = 0; n < 7; ++n) CHECK_EQ(host::reconnect_delay_ms(o, n), expected[n]);
  CHECK_EQ(host::reconnect_delay_ms(o, 1000000), uint64_t(2000));  // no overflow on a long outage
  o.first_reconnect_delay_ms = 0;  // the floor, never a busy loop
  CHECK_EQ(host::reconnect_delay_ms(o, 0), uint64_t(host::kMinReconnectDelayMs));
  o.reconnect_delay_ms = o.first_reconnect_delay_ms = 1;
  CHECK_EQ(host::reconnect_delay_ms(o, 5), uint64_t(host::kMinReconnectDelayMs));
}

}  // namespace

int main() {
  test_constant_delay();
  test_backoff_doubles_to_the_cap();
  return check::report("test_host_options");
}
