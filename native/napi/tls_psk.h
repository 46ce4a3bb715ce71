// The NVMe/TCP TLS PSK JS hands over, wherever it does: `psk` of an object (a target's
// host, a host's connect), a configured PSK in its interchange form (NVMeTLSkey-1).
#pragma once

#include <napi.h>

#include "tls/psk.h"

namespace rdmagate::napi {

// Throws ERR_INVALID_KEY for a malformed PSK (never showing it). Absent: null.
tls::PskRef parse_tls_psk(Napi::Env env, Napi::Value object);

}  // namespace rdmagate::napi
