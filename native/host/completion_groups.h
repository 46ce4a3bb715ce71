// I/O completions waiting for a poll: [controller id, n, (op id, status) × n] groups, in
// arrival order, handed out into a fixed buffer as far as they fit. The JS thread's poll
// (ConnectOptions.polling 'event-loop') takes them this way, without an allocation.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace rdmagate::host {

class CompletionGroups {
 public:
  void add(uint32_t controller_id, const uint32_t* pairs, size_t count) {
    if (count == 0) return;
    words_.push_back(controller_id);
    words_.push_back(uint32_t(count));
    words_.insert(words_.end(), pairs, pairs + 2 * count);
  }

  bool empty() const { return words_.empty(); }

  // Moves whole groups into `out`, and the front of the first that does not fit (a group
  // of its own, with its own count); returns the words written. The rest waits.
  size_t take(uint32_t* out, size_t capacity) {
    size_t in = 0, written = 0;
    while (in < words_.size() && written + 4 <= capacity) {  // room for a header and a pair
      uint32_t id = words_[in], n = words_[in + 1];
      uint32_t fit = uint32_t(std::min<size_t>(n, (capacity - written - 2) / 2));
      out[written] = id;
      out[written + 1] = fit;
      std::memcpy(out + written + 2, &words_[in + 2], size_t(fit) * 2 * sizeof(uint32_t));
      written += 2 + size_t(fit) * 2;
      if (fit < n) {  // what is left gets a header, over the last pair taken
        in += 2 * size_t(fit);
        words_[in] = id;
        words_[in + 1] = n - fit;
        break;
      }
      in += 2 + size_t(n) * 2;
    }
    words_.erase(words_.begin(), words_.begin() + ptrdiff_t(in));
    return written;
  }

 private:
  std::vector<uint32_t> words_;
};

}  // namespace rdmagate::host
