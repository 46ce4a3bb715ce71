// A process of ours that dies of a fatal signal (a crash in native code, an abort) says so
// on stderr, with the signal, the faulting address and the thread, and a native backtrace;
// then the signal's default action runs, so that a core dump is written where the limits
// allow one.
#pragma once

namespace rdmagate::util {

// Once per process; later calls do nothing. Chains to a handler already installed (V8's
// WebAssembly trap handler takes the SIGSEGVs that are its own).
void report_fatal_signals();

}  // namespace rdmagate::util
