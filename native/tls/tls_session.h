// TLS 1.3 with an NVMe/TCP PSK over one non-blocking socket, through OpenSSL (libssl):
// the handshake, stepped on each socket event, and the record layer after it. The suites
// are the two NVMe/TCP names (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384), and, on the
// server, ChaCha20-Poly1305 for Linux's SHA-384 PSKs (see client_hello in the .cc); no
// certificates, no session tickets.
//
// Where the kernel has kTLS, the record layer goes to the kernel once the handshake is done
// (as tlshd hands it to the kernel for Linux's own NVMe/TCP): the session's traffic keys
// are set on the socket (TLS_TX, TLS_RX), and reads and sends are plain readv and sendmsg
// that the kernel decrypts and encrypts, sends from the caller's pages. This is done here
// rather than by OpenSSL's own kTLS, which did not engage in the lab with the OpenSSL an
// addon binds to (Node's own, whose symbols come first). Where the kernel has no kTLS,
// OpenSSL encrypts and decrypts in user space.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "tls/psk.h"

using ssl_st = struct ssl_st;

namespace rdmagate::tls {

class TlsSession {
 public:
  // The server's answer for the identity a client offers; nullopt refuses it.
  using PskLookup = std::function<std::optional<TlsPsk>(const std::string& identity)>;

  static std::unique_ptr<TlsSession> client(int fd, const TlsPsk& psk);
  static std::unique_ptr<TlsSession> server(int fd, PskLookup lookup);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  enum class Step { kDone, kWantRead, kWantWrite, kFailed };
  // Drives the handshake as far as the socket allows. After kFailed, error() says why.
  Step handshake();
  bool established() const { return established_; }
  const std::string& error() const { return error_; }
  // After the handshake: the identity the PSK was found by, and the suite.
  const std::string& identity() const { return identity_; }
  std::string cipher() const;
  bool ktls() const { return ktls_; }

  // As readv(2): bytes read, 0 at the peer's close, -1 with errno (EAGAIN: nothing yet,
  // EPROTO: a TLS error, see error()). Fewer bytes than asked means the socket is drained.
  ssize_t readv(const iovec* iov, int n);
  // As sendmsg(2) with MSG_NOSIGNAL | MSG_DONTWAIT. Without kTLS, at most one record (16
  // KiB) per call, and after EAGAIN the caller must offer the same bytes again.
  ssize_t writev(const iovec* iov, int n);
  // Sends close_notify where it can without blocking.
  void shutdown();

 private:
  TlsSession(int fd, ssl_st* ssl, TlsPsk client_psk, PskLookup lookup);
  // The SSL error after a call that returned `rc`: -1 with errno set, or 0 at the peer's close.
  int io_error(int rc, const char* what);
  // A handshake failure in words: OpenSSL's reason, and the identity it was for.
  std::string explain(const std::string& reason) const;
  // After the handshake: the traffic keys to the kernel, where it takes them.
  bool start_ktls();
  friend struct Callbacks;

  int fd_;
  ssl_st* ssl_;
  TlsPsk client_psk_;  // client: what it offers
  PskLookup lookup_;   // server: how it finds what the client offered
  std::string identity_;
  uint16_t suite_ = 0;  // server: the suite picked from the ClientHello
  std::string error_;
  bool established_ = false;
  bool ktls_ = false;
  Bytes client_secret_, server_secret_;  // the application traffic secrets, until kTLS has them
  // Without kTLS: a record's worth of the caller's bytes, gathered for one SSL_write.
  std::unique_ptr<uint8_t[]> out_;
  size_t pending_ = 0;  // bytes of out_ a blocked SSL_write still owes
};

}  // namespace rdmagate::tls
