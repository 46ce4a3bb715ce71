// Native errors carry a stable code that the N-API layer turns into a typed JS error.
#pragma once

#include <stdexcept>
#include <string>

namespace rdmagate {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message, int errnum = 0)
      : std::runtime_error(message), code_(std::move(code)), errnum_(errnum) {}
  const std::string& code() const { return code_; }
  // errno, ibv_wc_status or rdma_cm status, depending on code(); 0 when none applies.
  int errnum() const { return errnum_; }

 private:
  std::string code_;
  int errnum_;
};

}  // namespace rdmagate
