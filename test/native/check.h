// Minimal self-contained test harness for the native unit tests: CHECK and
// CHECK_EQ record failures and keep going; check::report() prints a summary
// and gives main()'s exit status.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>

namespace check {

inline int g_checks = 0;
inline int g_failures = 0;

// Integer comparison without sign-compare surprises (CHECK_EQ(sizeof(x), 64)).
template <class A, class B>
constexpr bool equal(const A& a, const B& b) {
  if constexpr (std::is_enum_v<A>) {
    return equal(static_cast<std::underlying_type_t<A>>(a), b);
  } else if constexpr (std::is_enum_v<B>) {
    return equal(a, static_cast<std::underlying_type_t<B>>(b));
  } else if constexpr (std::is_integral_v<A> && std::is_integral_v<B>) {
    if constexpr (std::is_signed_v<A> == std::is_signed_v<B>) {
      return a == b;
    } else if constexpr (std::is_signed_v<A>) {
      return a >= 0 && static_cast<std::make_unsigned_t<A>>(a) == b;
    } else {
      return b >= 0 && a == static_cast<std::make_unsigned_t<B>>(b);
    }
  } else {
    return a == b;
  }
}

template <class T>
std::string show(const T& v) {
  if constexpr (std::is_enum_v<T>) {
    return show(static_cast<std::underlying_type_t<T>>(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    char buf[64];
    if constexpr (std::is_signed_v<T>)
      std::snprintf(buf, sizeof buf, "%lld (0x%llx)", static_cast<long long>(v),
                    static_cast<unsigned long long>(v));
    else
      std::snprintf(buf, sizeof buf, "%llu (0x%llx)", static_cast<unsigned long long>(v),
                    static_cast<unsigned long long>(v));
    return buf;
  } else if constexpr (std::is_convertible_v<T, std::string_view>) {
    return "\"" + std::string(std::string_view(v)) + "\"";
  } else {
    return "<value>";
  }
}

inline void fail(const char* file, int line, const std::string& what) {
  ++g_failures;
  std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
}

inline int report(const char* name) {
  std::printf("%s: %d checks, %d failed\n", name, g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}

}  // namespace check

#define CHECK(cond)                                           \
  do {                                                        \
    ++check::g_checks;                                        \
    if (!(cond)) check::fail(__FILE__, __LINE__, #cond);      \
  } while (0)

// Operands are copied first so packed struct fields can be compared.
#define CHECK_EQ(a, b)                                                                 \
  do {                                                                                 \
    ++check::g_checks;                                                                 \
    const auto check_a_ = (a);                                                         \
    const auto check_b_ = (b);                                                         \
    if (!check::equal(check_a_, check_b_))                                             \
      check::fail(__FILE__, __LINE__,                                                  \
                  std::string(#a " == " #b ": ") + check::show(check_a_) + " vs " +    \
                      check::show(check_b_));                                          \
  } while (0)
