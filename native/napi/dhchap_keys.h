// The DH-HMAC-CHAP keys JS hands over, wherever it does: { dhchapKey?, dhchapCtrlrKey? },
// each a secret in its DHHC-1 form (a target's host, a host's connect, a re-authentication).
#pragma once

#include <napi.h>

#include "auth/dhchap_secret.h"

namespace rdmagate::napi {

// Throws ERR_INVALID_KEY for a malformed secret (never showing it), ERR_INVALID_ARG for a
// controller key without a host key. Undefined or null: no keys.
auth::DhchapKeys parse_dhchap_keys(Napi::Env env, Napi::Value value);

}  // namespace rdmagate::napi
