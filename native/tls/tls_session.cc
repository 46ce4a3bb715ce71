#include "tls/tls_session.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace rdmagate::tls {

namespace {

constexpr size_t kMaxRecord = 16 * 1024;  // TLS 1.3's largest plaintext record
constexpr char kSuites[] = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";
constexpr uint16_t kPreSharedKeyExtension = 41;

const char* suite_of(uint8_t hash) { return hash == kPskSha384 ? "TLS_AES_256_GCM_SHA384" : "TLS_AES_128_GCM_SHA256"; }

std::string ssl_reason() {
  unsigned long e = ERR_peek_last_error();
  std::string r = e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown" : "";
  ERR_clear_error();
  return r;
}

// A session whose master key is the TLS PSK, which is how OpenSSL takes an external PSK.
SSL_SESSION* psk_session(SSL* ssl, const TlsPsk& psk) {
  const uint8_t id[2] = {0x13, uint8_t(psk.hash == kPskSha384 ? 0x02 : 0x01)};
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, id);
  SSL_SESSION* s = SSL_SESSION_new();
  if (!s || !cipher || !SSL_SESSION_set1_master_key(s, psk.key.data(), psk.key.size()) ||
      !SSL_SESSION_set_cipher(s, cipher) || !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
    SSL_SESSION_free(s);
    return nullptr;
  }
  return s;
}

// The first identity of a ClientHello's pre_shared_key extension (RFC 8446 4.2.11).
std::optional<std::string> first_identity(SSL* ssl) {
  const unsigned char* p;
  size_t len;
  if (SSL_client_hello_get0_ext(ssl, kPreSharedKeyExtension, &p, &len) != 1 || len < 4) return std::nullopt;
  size_t list = size_t(p[0]) << 8 | p[1], id = size_t(p[2]) << 8 | p[3];
  if (list + 2 > len || id + 4 > list) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(p + 4), id);
}

SSL_CTX* make_context(bool server);

SSL_CTX* context(bool server) {
  static SSL_CTX* const client = make_context(false);
  static SSL_CTX* const srv = make_context(true);
  return server ? srv : client;
}

}  // namespace

struct Callbacks {
  static TlsSession& of(SSL* ssl) { return *static_cast<TlsSession*>(SSL_get_app_data(ssl)); }

  static int use_session(SSL* ssl, const EVP_MD* md, const unsigned char** id, size_t* id_len, SSL_SESSION** sess) {
    TlsSession& self = of(ssl);
    *sess = psk_session(ssl, self.client_psk_);
    if (*sess && md && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(*sess))) {
      SSL_SESSION_free(*sess);
      *sess = nullptr;
    }
    *id = reinterpret_cast<const unsigned char*>(self.client_psk_.identity.data());
    *id_len = *sess ? self.client_psk_.identity.size() : 0;
    return *sess ? 1 : 0;
  }

  // Before the server picks a suite: the one the offered PSK's hash names, since a PSK
  // only serves a suite with its hash.
  static int client_hello(SSL* ssl, int* alert, void*) {
    std::optional<std::string> identity = first_identity(ssl);
    std::optional<PskIdentity> parsed = identity ? parse_identity(*identity) : std::nullopt;
    if (parsed) SSL_set_ciphersuites(ssl, suite_of(parsed->hash));
    *alert = 0;
    return SSL_CLIENT_HELLO_SUCCESS;
  }

  static int find_session(SSL* ssl, const unsigned char* id, size_t id_len, SSL_SESSION** sess) {
    TlsSession& self = of(ssl);
    std::string identity(reinterpret_cast<const char*>(id), id_len);
    *sess = nullptr;
    std::optional<TlsPsk> psk = self.lookup_(identity);
    if (!psk) {
      self.error_ = "no PSK for identity '" + identity + "'";
      return 1;  // no session: the handshake fails, as there is no certificate either
    }
    *sess = psk_session(ssl, *psk);
    if (*sess) self.identity_ = identity;
    return *sess ? 1 : 0;
  }
};

namespace {

SSL_CTX* make_context(bool server) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) || !SSL_CTX_set_ciphersuites(ctx, kSuites))
    return nullptr;
  // No tickets: a record other than data would stop a kTLS receive. IGNORE_UNEXPECTED_EOF:
  // a peer that closes without close_notify has closed, as on a plain socket.
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_ENABLE_KTLS | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (server) {
    SSL_CTX_set_client_hello_cb(ctx, Callbacks::client_hello, nullptr);
    SSL_CTX_set_psk_find_session_callback(ctx, Callbacks::find_session);
  } else {
    SSL_CTX_set_psk_use_session_callback(ctx, Callbacks::use_session);
  }
  return ctx;
}

SSL* new_ssl(bool server, int fd) {
  SSL_CTX* ctx = context(server);
  SSL* ssl = ctx ? SSL_new(ctx) : nullptr;
  if (!ssl || !SSL_set_fd(ssl, fd)) {
    SSL_free(ssl);
    throw Error("ERR_INTERNAL", "OpenSSL: cannot make a TLS session: " + ssl_reason());
  }
  if (server) SSL_set_accept_state(ssl);
  else SSL_set_connect_state(ssl);
  return ssl;
}

}  // namespace

std::unique_ptr<TlsSession> TlsSession::client(int fd, const TlsPsk& psk) {
  SSL* ssl = new_ssl(false, fd);
  SSL_set_ciphersuites(ssl, suite_of(psk.hash));
  TlsPsk own;
  own.identity = psk.identity;
  own.key = psk.key;
  own.hash = psk.hash;
  return std::unique_ptr<TlsSession>(new TlsSession(fd, ssl, std::move(own), nullptr));
}

std::unique_ptr<TlsSession> TlsSession::server(int fd, PskLookup lookup) {
  return std::unique_ptr<TlsSession>(new TlsSession(fd, new_ssl(true, fd), TlsPsk{}, std::move(lookup)));
}

TlsSession::TlsSession(int fd, SSL* ssl, TlsPsk client_psk, PskLookup lookup)
    : fd_(fd), ssl_(ssl), client_psk_(std::move(client_psk)), lookup_(std::move(lookup)) {
  SSL_set_app_data(ssl_, this);
  if (!lookup_) identity_ = client_psk_.identity;
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

TlsSession::Step TlsSession::handshake() {
  if (established_) return Step::kDone;
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    ktls_send_ = BIO_get_ktls_send(SSL_get_wbio(ssl_));
    if (!ktls_send_) out_.reset(new uint8_t[kMaxRecord]);
    auth::wipe(client_psk_.key);
    return Step::kDone;
  }
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ: return Step::kWantRead;
    case SSL_ERROR_WANT_WRITE: return Step::kWantWrite;
    case SSL_ERROR_SYSCALL:
      if (error_.empty()) error_ = errno ? strerror(errno) : "the peer closed the connection";
      break;
    default: {
      std::string reason = ssl_reason();
      if (error_.empty()) error_ = explain(reason);
    }
  }
  return Step::kFailed;
}

std::string TlsSession::explain(const std::string& reason) const {
  std::string what = reason.empty() ? "handshake failed" : reason;
  // OpenSSL's words for the refusals a listener sees most.
  if (reason == "binder does not verify") what = "the peer's PSK is not the one for its identity";
  if (reason == "wrong version number" && lookup_) what = "no TLS ClientHello (plain NVMe/TCP to a secure channel?)";
  if (!identity_.empty() && lookup_) what += " (identity '" + identity_ + "')";
  return what;
}

std::string TlsSession::cipher() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  return c ? SSL_CIPHER_get_name(c) : "";
}

bool TlsSession::ktls_recv() const { return established_ && BIO_get_ktls_recv(SSL_get_rbio(ssl_)); }

int TlsSession::io_error(int rc, const char* what) {
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: errno = EAGAIN; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL:
      if (errno == 0) return 0;
      return -1;
    default:
      error_ = std::string("TLS ") + what + ": " + ssl_reason();
      errno = EPROTO;
      return -1;
  }
}

ssize_t TlsSession::readv(const iovec* iov, int n) {
  ssize_t total = 0;
  for (int i = 0; i < n; ++i) {
    auto* base = static_cast<uint8_t*>(iov[i].iov_base);
    for (size_t off = 0; off < iov[i].iov_len;) {
      size_t got = 0;
      ERR_clear_error();
      if (SSL_read_ex(ssl_, base + off, iov[i].iov_len - off, &got) <= 0) {
        int r = io_error(0, "receive");
        // Drained: what came is the answer. Anything else ends the connection, and what
        // came before it does not matter.
        if (r < 0 && errno == EAGAIN && total > 0) return total;
        return r;
      }
      off += got;
      total += ssize_t(got);
    }
  }
  return total;
}

ssize_t TlsSession::writev(const iovec* iov, int n) {
  if (ktls_send_) {
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = size_t(n);
    return sendmsg(fd_, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  size_t len = pending_;
  for (int i = 0; !pending_ && i < n && len < kMaxRecord; ++i) {
    size_t take = std::min(iov[i].iov_len, kMaxRecord - len);
    std::memcpy(out_.get() + len, iov[i].iov_base, take);
    len += take;
  }
  size_t written = 0;
  ERR_clear_error();
  if (SSL_write_ex(ssl_, out_.get(), len, &written) <= 0) {
    pending_ = len;
    int r = io_error(0, "send");
    if (r == 0) errno = EPIPE;
    return -1;
  }
  pending_ = 0;
  return ssize_t(written);
}

void TlsSession::shutdown() {
  if (!established_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace rdmagate::tls
