#pragma once
// logline::http::server: cpp-httplib's server with the limits a server on the internet needs.
//
//   logline::http::server svr({.max_connections = 1500});   // or svr(limits, tls_files{cert, key})
//   api.mount(svr);
//   const int port = logline::http::bind_exclusive(svr, "127.0.0.1", 8080);
//   svr.listen_after_bind();
//
// cpp-httplib 0.11 (Debian 12) serves each connection on a thread of a fixed pool, reads a
// request for as long as its client keeps sending a byte within the read timeout, and reads a
// chunked body whole whatever its size. So 70 idle connections starved a 64-thread pool, and a
// chunked upload grew the process without bound. This class keeps cpp-httplib's parser and
// routing (Server::process_request) and replaces what surrounds each connection:
//   - admission: at most `max_connections` open connections, `max_connections_per_address` from
//     one client address; beyond either the connection gets a 503 with Retry-After at once and is
//     closed (it never waits for a thread);
//   - threads: one per admitted connection, started on demand (a pool that grows up to the caps,
//     plus a few threads that only answer refusals), so an idle connection costs a thread, not
//     the service;
//   - deadlines: the request line, headers and body of one request must all arrive within
//     `request_deadline` (a client trickling a byte every few seconds is cut off), a keep-alive
//     connection may idle `idle_timeout` between requests, and one read or write may wait
//     `io_timeout`;
//   - bytes: a request's line and headers may take `max_header_bytes`; its body only what the
//     handler that reads the request allowed (detail::connection_context, which the API sets from
//     Content-Length or, for a chunked body, its size limit plus the encoding's overhead). A read
//     past that fails, and the request ends 413 without the body ever being buffered.
// TLS (tls_files) is done here too, with OpenSSL, under the same rules.
#include <httplib.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace logline::http {

struct connection_limits {
  std::size_t max_connections = 1500;  // open connections in total; beyond: 503
  std::size_t max_connections_per_address =
      256;  // open connections from one client address; beyond: 503
  std::chrono::milliseconds request_deadline{
      15000};                                    // request line + headers + body of one request
  std::chrono::milliseconds idle_timeout{5000};  // a keep-alive connection between requests
  std::chrono::milliseconds io_timeout{10000};   // one read or write that makes no progress
  std::size_t max_header_bytes = 64 * 1024;      // request line and headers
  std::size_t max_requests_per_connection = 1000;
  int retry_after_seconds = 1;  // in the 503 of a refused connection
};

// A certificate chain and its private key (PEM files) for https.
struct tls_files {
  std::string certificate_chain, private_key;
};

namespace detail {

// What the request being read on this thread's connection may still read, and how it ended.
// The API's pre-routing handler (which runs after the headers, before the body) allows a body.
class connection_context {
 public:
  virtual ~connection_context() = default;
  // The body may take `bytes` more bytes of the stream (its transfer encoding included).
  virtual void allow_body(std::size_t bytes) = 0;
  // The connection closes after this response (a body left unread must not be taken for the
  // next request).
  virtual void close_after_response() = 0;
  // The request read past what it was allowed / did not arrive within the request deadline.
  virtual bool over_limit() const = 0;
  virtual bool timed_out() const = 0;
};
inline thread_local connection_context* current_connection = nullptr;

inline std::string address_text(const sockaddr_storage& a, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  port = 0;
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    port = ntohs(v6->sin6_port);
  }
  return text;
}

// Counts open connections, in total and per client address.
class admission {
 public:
  enum class verdict { admitted, too_many, too_many_from_address };
  explicit admission(const connection_limits& l) : limits_(l) {}
  verdict enter(const std::string& address) {
    std::lock_guard lock(mutex_);
    if (total_ >= limits_.max_connections) return verdict::too_many;
    auto& n = per_address_[address];
    if (n >= limits_.max_connections_per_address) return verdict::too_many_from_address;
    ++n;
    ++total_;
    return verdict::admitted;
  }
  void leave(const std::string& address) {
    std::lock_guard lock(mutex_);
    auto it = per_address_.find(address);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
    --total_;
  }
  std::size_t open() const {
    std::lock_guard lock(mutex_);
    return total_;
  }

 private:
  const connection_limits& limits_;
  mutable std::mutex mutex_;
  std::size_t total_ = 0;
  std::map<std::string, std::size_t> per_address_;
};

// A TaskQueue that gives each task (a connection) a thread at once, starting threads on demand up
// to `max_threads` (then tasks wait); idle threads stay for the next connection.
class connection_pool final : public httplib::TaskQueue {
 public:
  explicit connection_pool(std::size_t max_threads)
      : max_threads_(std::max<std::size_t>(max_threads, 1)) {}
  ~connection_pool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(fn));
    if (idle_ < jobs_.size() && threads_.size() < max_threads_)
      threads_.emplace_back([this] { work(); });
    else
      ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_)
      t.join();  // no enqueue after shutdown (cpp-httplib's accept loop has ended)
  }

 private:
  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      ready_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;  // stopping
      auto fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  const std::size_t max_threads_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
};

// One connection (plain or TLS) as cpp-httplib's Stream, with the byte budget and deadline of the
// request being read. Reads are buffered (cpp-httplib reads the request line a byte at a time).
class connection_stream final : public httplib::Stream, public connection_context {
 public:
  connection_stream(int fd, SSL* ssl, const connection_limits& l)
      : fd_(fd), ssl_(ssl), limits_(l) {}

  // A new request: a fresh deadline and header budget.
  void begin_request() {
    deadline_ = clock::now() + limits_.request_deadline;
    consumed_ = 0;
    limit_ = limits_.max_header_bytes;
    over_ = timed_out_ = close_ = false;
  }
  // Waits up to `idle` for the next request's first byte; false on timeout, EOF or when `running`
  // turns false.
  bool wait_for_request(std::chrono::milliseconds idle, const std::function<bool()>& running) {
    const auto until = clock::now() + idle;
    while (pos_ == len_ && !(ssl_ && SSL_pending(ssl_) > 0)) {
      if (!running()) return false;
      const auto left = until - clock::now();
      if (left <= clock::duration::zero()) return false;
      const int r = wait(POLLIN, std::min<clock::duration>(left, std::chrono::milliseconds(200)));
      if (r < 0) return false;
      if (r > 0) return fill(until);
    }
    return true;
  }

  bool close_requested() const { return close_; }

  // connection_context
  void allow_body(std::size_t bytes) override { limit_ = consumed_ + bytes; }
  void close_after_response() override { close_ = true; }
  bool over_limit() const override { return over_; }
  bool timed_out() const override { return timed_out_; }

  // httplib::Stream
  bool is_readable() const override {
    if (pos_ < len_ || (ssl_ && SSL_pending(ssl_) > 0)) return true;
    return const_cast<connection_stream*>(this)->wait(
               POLLIN, std::min<clock::duration>(remaining(), limits_.io_timeout)) > 0;
  }
  bool is_writable() const override {
    return const_cast<connection_stream*>(this)->wait(POLLOUT, limits_.io_timeout) > 0;
  }
  ssize_t read(char* ptr, size_t size) override {
    if (consumed_ >= limit_) {
      over_ = true;
      close_ = true;
      return -1;
    }
    size = std::min(size, limit_ - consumed_);
    if (pos_ == len_ && !fill(deadline_)) return -1;
    const std::size_t n = std::min(size, len_ - pos_);
    std::memcpy(ptr, buffer_ + pos_, n);
    pos_ += n;
    consumed_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    const auto until = clock::now() + limits_.io_timeout;
    for (;;) {
      if (ssl_) {
        ERR_clear_error();
        const int n = SSL_write(ssl_, ptr, static_cast<int>(std::min<size_t>(size, INT32_MAX)));
        if (n > 0) return n;
        const int e = SSL_get_error(ssl_, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return -1;
        if (wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, until - clock::now()) <= 0) return -1;
      } else {
        const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        if (wait(POLLOUT, until - clock::now()) <= 0) return -1;
      }
    }
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = peer(&::getpeername, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = peer(&::getsockname, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  using clock = std::chrono::steady_clock;

  clock::duration remaining() const {
    return std::max<clock::duration>(deadline_ - clock::now(), clock::duration::zero());
  }

  // poll() for `events` up to `timeout`: >0 ready, 0 timed out, <0 error or hang-up.
  int wait(short events, clock::duration timeout) {
    if (timeout <= clock::duration::zero()) return 0;
    pollfd p{fd_, events, 0};
    const int ms = static_cast<int>(std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()));
    const int r = ::poll(&p, 1, ms);
    if (r > 0 && (p.revents & (POLLERR | POLLNVAL))) return -1;
    return r;
  }

  // Refills the buffer before `until` (and the request deadline, and the I/O timeout).
  bool fill(clock::time_point until) {
    pos_ = len_ = 0;
    for (;;) {
      const auto now = clock::now();
      const auto limit = std::min(until, deadline_ > now ? deadline_ : until);
      if (now >= limit) {
        timed_out_ = close_ = true;
        return false;
      }
      const auto timeout = std::min<clock::duration>(limit - now, limits_.io_timeout);
      if (ssl_) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, buffer_, sizeof buffer_);
        if (n > 0) {
          len_ = static_cast<std::size_t>(n);
          return true;
        }
        const int e = SSL_get_error(ssl_, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return false;
        const int r = wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, timeout);
        if (r < 0) return false;
        if (r == 0 && clock::now() - now >= limits_.io_timeout) return false;
      } else {
        const ssize_t n = ::recv(fd_, buffer_, sizeof buffer_, 0);
        if (n > 0) {
          len_ = static_cast<std::size_t>(n);
          return true;
        }
        if (n == 0) return false;  // the client closed
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
        const int r = wait(POLLIN, timeout);
        if (r < 0) return false;
        if (r == 0 && clock::now() - now >= limits_.io_timeout) return false;
      }
    }
  }

  template <class F>
  std::string peer(F f, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (f(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      port = 0;
      return {};
    }
    return address_text(a, port);
  }

  const int fd_;
  SSL* const ssl_;
  const connection_limits& limits_;
  char buffer_[16 * 1024];
  std::size_t pos_ = 0, len_ = 0;
  clock::time_point deadline_{};
  std::size_t consumed_ = 0, limit_ = 0;
  bool over_ = false, timed_out_ = false, close_ = false;
};

}  // namespace detail

class server : public httplib::Server {
 public:
  struct counters {
    std::atomic<std::uint64_t> refused{0};  // connections answered 503 (a cap was reached)
    std::atomic<std::uint64_t> refused_per_address{0};  // of which: the per-address cap
    std::atomic<std::uint64_t> deadline_exceeded{0};    // requests cut off by the request deadline
    std::atomic<std::uint64_t> too_large{0};            // requests that read past their allowance
  };

  explicit server(connection_limits l = {}, std::optional<tls_files> tls = std::nullopt)
      : limits_(l), admission_(limits_) {
    const std::size_t threads = limits_.max_connections + refusal_threads;
    new_task_queue = [threads] { return new detail::connection_pool(threads); };
    // SO_REUSEADDR and not cpp-httplib's SO_REUSEPORT: the port is this server's alone, and one
    // whose old connections linger in TIME_WAIT (after a crash under load) binds at once.
    set_socket_options([](socket_t sock) {
      const int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    if (tls) {
      tls_wanted_ = true;
      ctx_ = SSL_CTX_new(TLS_server_method());
      if (ctx_ &&
          (SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION) != 1 ||
           SSL_CTX_use_certificate_chain_file(ctx_, tls->certificate_chain.c_str()) != 1 ||
           SSL_CTX_use_PrivateKey_file(ctx_, tls->private_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
           SSL_CTX_check_private_key(ctx_) != 1)) {
        SSL_CTX_free(ctx_);
        ctx_ = nullptr;
      }
    }
  }
  ~server() override {
    if (ctx_) SSL_CTX_free(ctx_);
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  bool is_valid() const override { return !tls_wanted_ || ctx_ != nullptr; }
  const connection_limits& limits() const noexcept { return limits_; }
  const counters& stats() const noexcept { return counters_; }
  std::size_t open_connections() const { return admission_.open(); }

 private:
  static constexpr std::size_t refusal_threads = 32;

  bool process_and_close_socket(socket_t sock) override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    int port = 0;
    const std::string address = ::getpeername(sock, reinterpret_cast<sockaddr*>(&a), &len) == 0
                                    ? detail::address_text(a, port)
                                    : std::string();
    const auto verdict = admission_.enter(address);
    if (verdict != detail::admission::verdict::admitted) {
      ++counters_.refused;
      if (verdict == detail::admission::verdict::too_many_from_address)
        ++counters_.refused_per_address;
      refuse(sock, verdict == detail::admission::verdict::too_many
                       ? "the server has too many open connections"
                       : "too many open connections from this address");
      return false;
    }
    ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL) | O_NONBLOCK);
    const bool ok = serve(sock);
    admission_.leave(address);
    return ok;
  }

  bool serve(socket_t sock) {
    SSL* ssl = nullptr;
    if (ctx_) {
      ssl = SSL_new(ctx_);
      if (!ssl || SSL_set_fd(ssl, sock) != 1 || !handshake(ssl, sock)) {
        if (ssl) SSL_free(ssl);
        close_lingering(sock, nullptr);
        return false;
      }
    }
    detail::connection_stream strm(sock, ssl, limits_);
    detail::current_connection = &strm;
    bool ok = true;
    const auto running = [this] { return is_running(); };
    for (std::size_t i = 0; i < limits_.max_requests_per_connection; ++i) {
      if (!strm.wait_for_request(i == 0 ? limits_.request_deadline : limits_.idle_timeout, running))
        break;
      strm.begin_request();
      bool connection_closed = false;
      const bool last = i + 1 == limits_.max_requests_per_connection || !is_running();
      ok = process_request(strm, last, connection_closed, {});
      if (strm.timed_out()) ++counters_.deadline_exceeded;
      if (strm.over_limit()) ++counters_.too_large;
      if (!ok || connection_closed || last || strm.close_requested()) break;
    }
    detail::current_connection = nullptr;
    close_lingering(sock, ssl);
    return ok;
  }

  bool handshake(SSL* ssl, socket_t sock) const {
    const auto until = std::chrono::steady_clock::now() + limits_.request_deadline;
    for (;;) {
      ERR_clear_error();
      const int r = SSL_accept(ssl);
      if (r == 1) return true;
      const int e = SSL_get_error(ssl, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            until - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return false;
      pollfd p{sock, static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    }
  }

  // Closes after the response has left: stop sending, read (and drop) what the client still
  // sends for a moment, so that a body left unread does not turn into a reset that destroys the
  // response before the client reads it. Bounded in time and bytes.
  static void close_lingering(socket_t sock, SSL* ssl) {
    if (ssl) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    ::shutdown(sock, SHUT_WR);
    char sink[4096];
    std::size_t drained = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (drained < 256 * 1024) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            until - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      pollfd p{sock, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      const ssize_t n = ::recv(sock, sink, sizeof sink, MSG_DONTWAIT);
      if (n <= 0) break;
      drained += static_cast<std::size_t>(n);
    }
    ::close(sock);
  }

  // A 503 for a connection over a cap, written without reading its request (TLS connections get
  // the close only: answering would cost a handshake).
  void refuse(socket_t sock, const char* why) {
    if (!ctx_) {
      const std::string body =
          std::string(R"({"error":{"code":"unavailable","message":")") + why + "\"}}";
      const std::string text =
          "HTTP/1.1 503 Service Unavailable\r\nRetry-After: " +
          std::to_string(limits_.retry_after_seconds) +
          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + body;
      ::send(sock, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close_lingering(sock, nullptr);
  }

  const connection_limits limits_;
  detail::admission admission_;
  counters counters_;
  SSL_CTX* ctx_ = nullptr;
  bool tls_wanted_ = false;
};

namespace detail {
// Listens again with `backlog` on this process's listening socket of `port` (found among the
// open descriptors); false if there is none.
inline bool relisten(int port, int backlog) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    const std::string name = entry.path().filename().string();
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc()) continue;
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int p = -1;
    address_text(addr, p);
    if (p == port) return ::listen(fd, backlog) == 0;
  }
  return false;
}
}  // namespace detail

// Binds svr to host:port (0: a free port) and returns the port, or -1. cpp-httplib 0.11 sets
// SO_REUSEPORT on its listening socket, with which a second server binds a port that another
// one already holds and the kernel splits the connections between them; and a port-0 bind may
// land on such a port. So the port is first claimed by a plain socket (SO_REUSEADDR only: a
// port whose old connections linger in TIME_WAIT after a crash is free, one that a live socket
// listens on is not), which fails if anything holds it, and only then handed to cpp-httplib.
// It also listens with a backlog of `backlog` instead of cpp-httplib's 5 (compiled into
// Debian's library), which a burst of connections (hundreds of stream clients reconnecting at
// once) overflowed. IPv4 hosts only.
inline int bind_exclusive(httplib::Server& svr, const std::string& host, int port,
                          int backlog = 4096) {
  const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  if (probe < 0) return -1;
  const int yes = 1;
  ::setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(probe);
    return -1;
  }
  socklen_t len = sizeof addr;
  const bool free = ::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                    ::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(probe);
  if (!free) return -1;
  const int chosen = ntohs(addr.sin_port);
  if (!svr.bind_to_port(host, chosen)) return -1;
  detail::relisten(chosen, backlog);  // best effort: a failure leaves the default backlog
  return chosen;
}

}  // namespace logline::http
