// Which hashes and DH groups a controller accepts, in the order it prefers them (SPDK's
// nvmf_set_config dhchap_digests / dhchap_dhgroups), and their names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spec/auth.h"

namespace rdmagate::auth {

struct DhchapPolicy {
  // Strongest first, as SPDK's target picks.
  std::vector<uint8_t> digests{spec::kHashSha512, spec::kHashSha384, spec::kHashSha256};
  std::vector<uint8_t> dhgroups{spec::kDhFfdhe8192, spec::kDhFfdhe6144, spec::kDhFfdhe4096,
                                spec::kDhFfdhe3072, spec::kDhFfdhe2048, spec::kDhNull};
};

// "sha256", "sha384", "sha512"; throws Error(ERR_INVALID_ARG) for another name.
uint8_t digest_id(const std::string& name);
// "null", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192".
uint8_t dhgroup_id(const std::string& name);
const char* digest_name(uint8_t id);
const char* dhgroup_name(uint8_t id);

}  // namespace rdmagate::auth
