#include "tls/tls_session.h"

#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace rdmagate::tls {

namespace {

constexpr size_t kMaxRecord = 16 * 1024;  // TLS 1.3's largest plaintext record
constexpr char kSuites[] = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";
constexpr uint16_t kPreSharedKeyExtension = 41;

// TLS 1.3 suites by their ids (RFC 8446 B.4).
constexpr uint16_t kAes128Gcm = 0x1301, kAes256Gcm = 0x1302, kChacha20Poly1305 = 0x1303;

const char* suite_name(uint16_t suite) {
  switch (suite) {
    case kAes256Gcm: return "TLS_AES_256_GCM_SHA384";
    case kChacha20Poly1305: return "TLS_CHACHA20_POLY1305_SHA256";
  }
  return "TLS_AES_128_GCM_SHA256";
}

// The suite NVMe/TCP names for a PSK hash.
uint16_t suite_for(uint8_t hash) { return hash == kPskSha384 ? kAes256Gcm : kAes128Gcm; }

std::string ssl_reason() {
  unsigned long e = ERR_peek_last_error();
  std::string r = e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown" : "";
  ERR_clear_error();
  return r;
}

// A session whose master key is the TLS PSK, which is how OpenSSL takes an external PSK,
// for the suite it serves.
SSL_SESSION* psk_session(SSL* ssl, const TlsPsk& psk, uint16_t suite) {
  const uint8_t id[2] = {uint8_t(suite >> 8), uint8_t(suite)};
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, id);
  SSL_SESSION* s = SSL_SESSION_new();
  if (!s || !cipher || !SSL_SESSION_set1_master_key(s, psk.key.data(), psk.key.size()) ||
      !SSL_SESSION_set_cipher(s, cipher) || !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
    SSL_SESSION_free(s);
    return nullptr;
  }
  return s;
}

// The first PSK a ClientHello offers (RFC 8446 4.2.11): its identity, and the length of
// its binder, which is the length of the hash the client binds it with.
struct OfferedPsk {
  std::string identity;
  size_t binder_len;
};
std::optional<OfferedPsk> first_psk(SSL* ssl) {
  const unsigned char* p;
  size_t len;
  if (SSL_client_hello_get0_ext(ssl, kPreSharedKeyExtension, &p, &len) != 1 || len < 4) return std::nullopt;
  size_t ids = size_t(p[0]) << 8 | p[1], id = size_t(p[2]) << 8 | p[3];
  // identities (u16 length), then binders (u16 length, each u8 length + bytes)
  if (ids + 2 + 3 > len || id + 6 > ids) return std::nullopt;
  return OfferedPsk{std::string(reinterpret_cast<const char*>(p + 4), id), p[2 + ids + 2]};
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
    *sess = psk_session(ssl, self.client_psk_, suite_for(self.client_psk_.hash));
    if (*sess && md && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(*sess))) {
      SSL_SESSION_free(*sess);
      *sess = nullptr;
    }
    *id = reinterpret_cast<const unsigned char*>(self.client_psk_.identity.data());
    *id_len = *sess ? self.client_psk_.identity.size() : 0;
    return *sess ? 1 : 0;
  }

  // Before the server picks a suite: one with the hash the client binds its PSK with, since
  // a PSK serves only a suite of its hash. That is the identity's hash (NVMe/TCP: AES-128-GCM
  // for SHA-256, AES-256-GCM for SHA-384), but Linux's tlshd (GnuTLS) binds every PSK with
  // SHA-256 and, for a SHA-384 identity, offers no SHA-256 suite but ChaCha20-Poly1305:
  // that one serves then, as it does between two Linux peers.
  static int client_hello(SSL* ssl, int* alert, void*) {
    TlsSession& self = of(ssl);
    std::optional<OfferedPsk> offer = first_psk(ssl);
    if (offer && parse_identity(offer->identity)) {
      const unsigned char* suites;
      size_t len = SSL_client_hello_get0_ciphers(ssl, &suites);
      auto offered = [&](uint16_t suite) {
        for (size_t i = 0; i + 1 < len; i += 2)
          if ((uint16_t(suites[i]) << 8 | suites[i + 1]) == suite) return true;
        return false;
      };
      self.suite_ = offer->binder_len == 48                                 ? kAes256Gcm
                    : offered(kAes128Gcm) || !offered(kChacha20Poly1305) ? kAes128Gcm
                                                                          : kChacha20Poly1305;
      SSL_set_ciphersuites(ssl, suite_name(self.suite_));
    }
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
    *sess = psk_session(ssl, *psk, self.suite_ ? self.suite_ : suite_for(psk->hash));
    if (*sess) self.identity_ = identity;
    return *sess ? 1 : 0;
  }

  // OpenSSL's key log (NSS's format) is where it gives out the traffic secrets: the two
  // application ones are kept for kTLS.
  static void key_log(const SSL* ssl, const char* line) {
    TlsSession& self = of(const_cast<SSL*>(ssl));
    std::string l(line);
    Bytes* to = l.rfind("CLIENT_TRAFFIC_SECRET_0 ", 0) == 0 ? &self.client_secret_
              : l.rfind("SERVER_TRAFFIC_SECRET_0 ", 0) == 0 ? &self.server_secret_
                                                            : nullptr;
    size_t hex = l.rfind(' ');
    if (!to || hex == std::string::npos) return;
    auth::wipe(*to);
    for (size_t i = hex + 1; i + 1 < l.size(); i += 2) to->push_back(uint8_t(std::stoul(l.substr(i, 2), nullptr, 16)));
    OPENSSL_cleanse(&l[0], l.size());
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
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_keylog_callback(ctx, Callbacks::key_log);
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
  SSL_set_ciphersuites(ssl, suite_name(suite_for(psk.hash)));
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

TlsSession::~TlsSession() {
  SSL_free(ssl_);
  auth::wipe(client_secret_);
  auth::wipe(server_secret_);
}

TlsSession::Step TlsSession::handshake() {
  if (established_) return Step::kDone;
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    ktls_ = start_ktls();
    if (!ktls_) out_.reset(new uint8_t[kMaxRecord]);
    auth::wipe(client_psk_.key);
    auth::wipe(client_secret_);
    auth::wipe(server_secret_);
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

namespace {

// The kernel's crypto_info for one direction: key and IV from the traffic secret (RFC 8446
// 7.3), the record sequence number at 0, since no application record has gone either way.
template <class Info>
bool set_direction(int fd, int direction, uint16_t cipher_type, uint8_t hash, const Bytes& secret) {
  auto label = [](const char* name, size_t len) {
    Bytes info{0, uint8_t(len), uint8_t(6 + strlen(name))};
    const std::string text = std::string("tls13 ") + name;
    info.insert(info.end(), text.begin(), text.end());
    info.push_back(0);  // empty context
    return info;
  };
  Info ci{};
  Bytes key = auth::hkdf_expand(hash, secret, label("key", sizeof ci.key), sizeof ci.key);
  Bytes iv = auth::hkdf_expand(hash, secret, label("iv", 12), 12);
  ci.info.version = TLS_1_3_VERSION;
  ci.info.cipher_type = cipher_type;
  memcpy(ci.key, key.data(), sizeof ci.key);
  memcpy(ci.salt, iv.data(), sizeof ci.salt);
  memcpy(ci.iv, iv.data() + sizeof ci.salt, sizeof ci.iv);
  bool ok = setsockopt(fd, SOL_TLS, direction, &ci, sizeof ci) == 0;
  OPENSSL_cleanse(&ci, sizeof ci);
  auth::wipe(key);
  auth::wipe(iv);
  return ok;
}

}  // namespace

bool TlsSession::start_ktls() {
  // Records OpenSSL has read already would be lost to the kernel: stay in user space then.
  if (client_secret_.empty() || server_secret_.empty() || SSL_has_pending(ssl_)) return false;
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  const uint16_t suite = c ? SSL_CIPHER_get_protocol_id(c) : 0;
  if (setsockopt(fd_, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls") != 0) return false;  // no kTLS here
  const bool server = bool(lookup_);
  const Bytes& tx = server ? server_secret_ : client_secret_;
  const Bytes& rx = server ? client_secret_ : server_secret_;
  auto both = [&](auto info, uint16_t type, uint8_t hash) {
    using Info = decltype(info);
    return set_direction<Info>(fd_, TLS_TX, type, hash, tx) && set_direction<Info>(fd_, TLS_RX, type, hash, rx);
  };
  bool ok = suite == kAes256Gcm          ? both(tls12_crypto_info_aes_gcm_256{}, TLS_CIPHER_AES_GCM_256, kPskSha384)
            : suite == kChacha20Poly1305 ? both(tls12_crypto_info_chacha20_poly1305{}, TLS_CIPHER_CHACHA20_POLY1305, kPskSha256)
                                         : both(tls12_crypto_info_aes_gcm_128{}, TLS_CIPHER_AES_GCM_128, kPskSha256);
  if (!ok) {
    // The ULP is on and cannot come off: a socket half in the kernel's hands is no use.
    error_ = std::string("kTLS refused the session's keys: ") + strerror(errno);
    ::shutdown(fd_, SHUT_RDWR);
  }
  return ok;
}

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
  if (ktls_) {
    ssize_t r = n == 1 ? recv(fd_, iov[0].iov_base, iov[0].iov_len, 0) : ::readv(fd_, iov, n);
    // A record other than data (an alert, a key update) fails a read without a control
    // message: the peer is closing, or wants what NVMe/TCP does not do.
    if (r < 0 && errno == EIO) {
      error_ = "TLS record other than data (an alert?)";
      errno = EPROTO;
    }
    return r;
  }
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
  if (ktls_) {
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
  if (!established_ || ktls_) return;  // with kTLS, an alert needs a control message: the FIN says enough
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace rdmagate::tls
