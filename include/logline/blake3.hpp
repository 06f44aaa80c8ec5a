#pragma once
// BLAKE3 (hash, keyed_hash and derive_key modes, extendable output), written
// from the BLAKE3 specification (Aumasson, Neves, O'Connor, Wilcox-O'Hearn).
//
// Structure:
//   * detail::b3::compress_*          - the portable scalar compression function.
//   * detail::b3::hash_chunks_lanes   - 4 (8 with AVX2 enabled at compile time)
//                                       full chunks at once, one chunk per SIMD
//                                       lane, written with GNU vector extensions
//                                       (GCC/Clang lower them to SSE2/AVX2/NEON or
//                                       scalar code). Used only for inputs of more
//                                       than 4 chunks; the scalar path covers the rest.
//   * detail::b3::chunk_state         - the 1024-byte chunk being absorbed.
//   * blake3_hasher                   - chunk chaining-value stack / tree merging.
//
// No allocation, no global mutable state. Distinct hasher objects may be used
// concurrently from different threads. Defining LOGLINE_BLAKE3_NO_SIMD selects
// the scalar code only; it must then be defined the same way in every
// translation unit of a program (one-definition rule).
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "logline/detail/hex.hpp"

#if defined(__GNUC__) || defined(__clang__)
#define LOGLINE_B3_INLINE [[gnu::always_inline]] inline
#define LOGLINE_B3_NOINLINE [[gnu::noinline]] inline
#else
#define LOGLINE_B3_INLINE inline
#define LOGLINE_B3_NOINLINE inline
#endif

// Multi-chunk SIMD path via GNU vector extensions (GCC and Clang). Define
// LOGLINE_BLAKE3_NO_SIMD to force the purely scalar implementation.
#if !defined(LOGLINE_BLAKE3_NO_SIMD) && (defined(__GNUC__) || defined(__clang__))
#define LOGLINE_B3_LANES_ENABLED 1
#else
#define LOGLINE_B3_LANES_ENABLED 0
#endif

namespace logline {

inline constexpr std::size_t blake3_out_len = 32, blake3_key_len = 32, blake3_block_len = 64,
                             blake3_chunk_len = 1024;

namespace detail::b3 {

inline constexpr std::uint32_t iv[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                                        0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};

// Domain separation flags (spec, table 3).
inline constexpr std::uint32_t flag_chunk_start = 1u << 0;
inline constexpr std::uint32_t flag_chunk_end = 1u << 1;
inline constexpr std::uint32_t flag_parent = 1u << 2;
inline constexpr std::uint32_t flag_root = 1u << 3;
inline constexpr std::uint32_t flag_keyed_hash = 1u << 4;
inline constexpr std::uint32_t flag_derive_key_context = 1u << 5;
inline constexpr std::uint32_t flag_derive_key_material = 1u << 6;

inline constexpr std::size_t block_len = 64;
inline constexpr std::size_t chunk_len = 1024;
inline constexpr std::size_t blocks_per_chunk = chunk_len / block_len;
// 2^64 bytes of input is at most 2^54 chunks, so the stack never exceeds 54 entries.
inline constexpr std::size_t max_depth = 54;

inline constexpr std::uint8_t message_permutation[16] = {2, 6,  3,  10, 7, 0,  4,  13,
                                                         1, 11, 12, 5,  9, 14, 15, 8};

struct schedule_table {
  std::uint8_t idx[7][16];
};

// Round r reads message word schedule[r][i] where the spec would read word i of
// the message permuted r times.
constexpr schedule_table make_schedule() {
  schedule_table t{};
  for (std::uint8_t i = 0; i < 16; ++i) t.idx[0][i] = i;
  for (int r = 1; r < 7; ++r)
    for (int i = 0; i < 16; ++i) t.idx[r][i] = t.idx[r - 1][message_permutation[i]];
  return t;
}
inline constexpr schedule_table schedule = make_schedule();

LOGLINE_B3_INLINE std::uint32_t load_le32(const std::uint8_t* p) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  } else {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
  }
}

LOGLINE_B3_INLINE void store_le32(std::uint8_t* p, std::uint32_t v) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, 4);
  } else {
    p[0] = static_cast<std::uint8_t>(v);
    p[1] = static_cast<std::uint8_t>(v >> 8);
    p[2] = static_cast<std::uint8_t>(v >> 16);
    p[3] = static_cast<std::uint8_t>(v >> 24);
  }
}

LOGLINE_B3_INLINE void load_block(std::uint32_t (&m)[16], const std::uint8_t* block) noexcept {
  for (int i = 0; i < 16; ++i) m[i] = load_le32(block + 4 * i);
}

// The quarter-round G. Templated so that the same code serves the scalar
// compression (T = uint32_t) and the lane-parallel one (T = a vector type).
template <class T>
LOGLINE_B3_INLINE T rotr(T x, int n) noexcept {
  return static_cast<T>((x >> n) | (x << (32 - n)));
}

template <class T>
LOGLINE_B3_INLINE void g(T& a, T& b, T& c, T& d, T mx, T my) noexcept {
  a = a + b + mx;
  d = rotr(d ^ a, 16);
  c = c + d;
  b = rotr(b ^ c, 12);
  a = a + b + my;
  d = rotr(d ^ a, 8);
  c = c + d;
  b = rotr(b ^ c, 7);
}

template <int R, class T>
LOGLINE_B3_INLINE void round_fn(T (&v)[16], const T (&m)[16]) noexcept {
  constexpr const std::uint8_t* s = schedule.idx[R];
  // Columns.
  g(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
  g(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
  g(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
  g(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
  // Diagonals.
  g(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
  g(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
  g(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
  g(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
}

// Clang's SLP vectorizer (already at -O2) turns the scalar rounds into
// row-wise SIMD code that gathers message words one lane at a time; measured,
// that runs at about half the speed of the plain scalar code. An empty asm
// statement that pins the state words to general-purpose registers between
// rounds keeps the scalar schedule. (Not used for GCC: there it forces spills.)
template <class T>
LOGLINE_B3_INLINE void scalar_barrier([[maybe_unused]] T (&v)[16]) noexcept {
#if defined(__clang__)
  if constexpr (std::is_same_v<T, std::uint32_t>) {
    for (int i = 0; i < 16; ++i) __asm__("" : "+r"(v[i]));
  }
#endif
}

template <class T>
LOGLINE_B3_INLINE void all_rounds(T (&v)[16], const T (&m)[16]) noexcept {
  round_fn<0>(v, m);
  scalar_barrier(v);
  round_fn<1>(v, m);
  scalar_barrier(v);
  round_fn<2>(v, m);
  scalar_barrier(v);
  round_fn<3>(v, m);
  scalar_barrier(v);
  round_fn<4>(v, m);
  scalar_barrier(v);
  round_fn<5>(v, m);
  scalar_barrier(v);
  round_fn<6>(v, m);
}

// Runs the 7 rounds; v receives the raw 16-word state (before the final xors).
LOGLINE_B3_INLINE void compress_rounds(std::uint32_t (&v)[16], const std::uint32_t (&cv)[8],
                                       const std::uint32_t (&m)[16], std::uint64_t counter,
                                       std::uint32_t len, std::uint32_t flags) noexcept {
  for (int i = 0; i < 8; ++i) v[i] = cv[i];
  v[8] = iv[0];
  v[9] = iv[1];
  v[10] = iv[2];
  v[11] = iv[3];
  v[12] = static_cast<std::uint32_t>(counter);
  v[13] = static_cast<std::uint32_t>(counter >> 32);
  v[14] = len;
  v[15] = flags;
  all_rounds(v, m);
}

// cv <- first 8 words of compress(cv, m, counter, len, flags).
inline void compress_in_place(std::uint32_t (&cv)[8], const std::uint32_t (&m)[16],
                              std::uint64_t counter, std::uint32_t len,
                              std::uint32_t flags) noexcept {
  std::uint32_t v[16];
  compress_rounds(v, cv, m, counter, len, flags);
  for (int i = 0; i < 8; ++i) cv[i] = v[i] ^ v[i + 8];
}

// Same, with the 64-byte block given as little-endian bytes.
inline void compress_block_in_place(std::uint32_t (&cv)[8], const std::uint8_t* block,
                                    std::uint64_t counter, std::uint32_t len,
                                    std::uint32_t flags) noexcept {
  std::uint32_t m[16];
  load_block(m, block);
  compress_in_place(cv, m, counter, len, flags);
}

// All 64 output bytes of compress(cv, m, counter, len, flags), little-endian.
inline void compress_xof(const std::uint32_t (&cv)[8], const std::uint32_t (&m)[16],
                         std::uint64_t counter, std::uint32_t len, std::uint32_t flags,
                         std::uint8_t* out64) noexcept {
  std::uint32_t v[16];
  compress_rounds(v, cv, m, counter, len, flags);
  for (int i = 0; i < 8; ++i) {
    store_le32(out64 + 4 * i, v[i] ^ v[i + 8]);
    store_le32(out64 + 32 + 4 * i, v[i + 8] ^ cv[i]);
  }
}

// Chaining value of one complete 1024-byte chunk, hashed straight from the input.
inline void hash_full_chunk(const std::uint8_t* chunk, const std::uint32_t (&key)[8],
                            std::uint64_t counter, std::uint32_t flags,
                            std::uint32_t (&out)[8]) noexcept {
  for (int i = 0; i < 8; ++i) out[i] = key[i];
  for (std::size_t b = 0; b < blocks_per_chunk; ++b) {
    std::uint32_t f = flags;
    if (b == 0) f |= flag_chunk_start;
    if (b == blocks_per_chunk - 1) f |= flag_chunk_end;
    compress_block_in_place(out, chunk + b * block_len, counter,
                            static_cast<std::uint32_t>(block_len), f);
  }
}

#if LOGLINE_B3_LANES_ENABLED
#if defined(__AVX2__)
inline constexpr std::size_t lanes = 8;
#else
inline constexpr std::size_t lanes = 4;
#endif
typedef std::uint32_t lane_vec __attribute__((vector_size(lanes * 4)));

LOGLINE_B3_INLINE lane_vec splat(std::uint32_t x) noexcept {
  lane_vec v;
  for (std::size_t j = 0; j < lanes; ++j) v[j] = x;
  return v;
}

// Chaining values of `lanes` consecutive complete chunks (chunk counters
// counter, counter+1, ...), one chunk per vector lane.
LOGLINE_B3_NOINLINE void hash_chunks_lanes(const std::uint8_t* input, const std::uint32_t (&key)[8],
                                           std::uint64_t counter, std::uint32_t flags,
                                           std::uint32_t (*out)[8]) noexcept {
  lane_vec h[8];
  for (int i = 0; i < 8; ++i) h[i] = splat(key[i]);
  lane_vec t0 = {}, t1 = {};
  for (std::size_t j = 0; j < lanes; ++j) {
    t0[j] = static_cast<std::uint32_t>(counter + j);
    t1[j] = static_cast<std::uint32_t>((counter + j) >> 32);
  }
  const lane_vec blen = splat(static_cast<std::uint32_t>(block_len));
  for (std::size_t b = 0; b < blocks_per_chunk; ++b) {
    lane_vec m[16];
    for (int w = 0; w < 16; ++w)
      for (std::size_t j = 0; j < lanes; ++j)
        m[w][j] =
            load_le32(input + j * chunk_len + b * block_len + 4 * static_cast<std::size_t>(w));
    std::uint32_t f = flags;
    if (b == 0) f |= flag_chunk_start;
    if (b == blocks_per_chunk - 1) f |= flag_chunk_end;
    lane_vec v[16] = {h[0], h[1], h[2],         h[3],         h[4],         h[5],
                      h[6], h[7], splat(iv[0]), splat(iv[1]), splat(iv[2]), splat(iv[3]),
                      t0,   t1,   blen,         splat(f)};
    all_rounds(v, m);
    for (int i = 0; i < 8; ++i) h[i] = v[i] ^ v[i + 8];
  }
  for (std::size_t j = 0; j < lanes; ++j)
    for (int i = 0; i < 8; ++i) out[j][i] = h[i][j];
}
#else
inline constexpr std::size_t lanes = 1;
#endif

// A node whose chaining value / root output has not been computed yet: the
// arguments of its final compression.
struct output_node {
  std::uint32_t input_cv[8];
  std::uint32_t block[16];
  std::uint64_t counter;
  std::uint32_t block_len;
  std::uint32_t flags;

  void chaining_value(std::uint32_t (&out)[8]) const noexcept {
    for (int i = 0; i < 8; ++i) out[i] = input_cv[i];
    compress_in_place(out, block, counter, block_len, flags);
  }

  // Root output bytes [offset, offset + out_len).
  void root_bytes(std::uint64_t offset, std::uint8_t* out, std::size_t out_len) const noexcept {
    std::uint64_t block_counter = offset / block_len_bytes;
    std::size_t skip = static_cast<std::size_t>(offset % block_len_bytes);
    std::uint8_t buf[block_len_bytes];
    while (out_len > 0) {
      compress_xof(input_cv, block, block_counter, block_len, flags | flag_root, buf);
      std::size_t take = block_len_bytes - skip;
      if (take > out_len) take = out_len;
      std::memcpy(out, buf + skip, take);
      out += take;
      out_len -= take;
      skip = 0;
      ++block_counter;
    }
  }

  static constexpr std::size_t block_len_bytes = 64;
};

inline output_node parent_output(const std::uint32_t (&left)[8], const std::uint32_t (&right)[8],
                                 const std::uint32_t (&key)[8], std::uint32_t flags) noexcept {
  output_node o;
  for (int i = 0; i < 8; ++i) {
    o.input_cv[i] = key[i];
    o.block[i] = left[i];
    o.block[i + 8] = right[i];
  }
  o.counter = 0;
  o.block_len = static_cast<std::uint32_t>(block_len);
  o.flags = flags | flag_parent;
  return o;
}

// The chunk currently being absorbed (at most 1024 bytes, the last block buffered).
struct chunk_state {
  std::uint32_t cv[8];
  std::uint64_t chunk_counter;
  std::uint8_t buf[block_len];
  std::uint8_t buf_len;
  std::uint8_t blocks_compressed;
  std::uint32_t flags;

  void reset(const std::uint32_t (&key)[8], std::uint64_t counter, std::uint32_t mode) noexcept {
    for (int i = 0; i < 8; ++i) cv[i] = key[i];
    chunk_counter = counter;
    std::memset(buf, 0, sizeof buf);
    buf_len = 0;
    blocks_compressed = 0;
    flags = mode;
  }

  std::size_t len() const noexcept { return block_len * blocks_compressed + buf_len; }

  std::uint32_t start_flag() const noexcept {
    return blocks_compressed == 0 ? flag_chunk_start : 0u;
  }

  void compress_block(const std::uint8_t* block) noexcept {
    compress_block_in_place(cv, block, chunk_counter, static_cast<std::uint32_t>(block_len),
                            flags | start_flag());
    ++blocks_compressed;
  }

  // Precondition: len() + n <= chunk_len. A full block is only compressed once
  // more input is known to follow it (the last block needs flag_chunk_end).
  void update(const std::uint8_t* in, std::size_t n) noexcept {
    if (buf_len > 0) {
      std::size_t take = block_len - buf_len;
      if (take > n) take = n;
      std::memcpy(buf + buf_len, in, take);
      buf_len = static_cast<std::uint8_t>(buf_len + take);
      in += take;
      n -= take;
      if (n == 0) return;
      compress_block(buf);
      buf_len = 0;
    }
    while (n > block_len) {
      compress_block(in);
      in += block_len;
      n -= block_len;
    }
    std::memcpy(buf, in, n);
    buf_len = static_cast<std::uint8_t>(n);
  }

  output_node output() const noexcept {
    output_node o;
    for (int i = 0; i < 8; ++i) o.input_cv[i] = cv[i];
    std::uint8_t padded[block_len] = {};
    std::memcpy(padded, buf, buf_len);
    load_block(o.block, padded);
    o.counter = chunk_counter;
    o.block_len = buf_len;
    o.flags = flags | start_flag() | flag_chunk_end;
    return o;
  }
};

inline void key_words(const std::uint8_t* key, std::uint32_t (&out)[8]) noexcept {
  for (int i = 0; i < 8; ++i) out[i] = load_le32(key + 4 * i);
}

}  // namespace detail::b3

class blake3_hasher {
 public:
  blake3_hasher() noexcept : blake3_hasher(detail::b3::iv, 0) {}

  static blake3_hasher keyed(std::span<const std::uint8_t, 32> key) noexcept {
    std::uint32_t k[8];
    detail::b3::key_words(key.data(), k);
    return blake3_hasher(k, detail::b3::flag_keyed_hash);
  }

  static blake3_hasher derive_key(std::string_view context) noexcept {
    blake3_hasher context_hasher(detail::b3::iv, detail::b3::flag_derive_key_context);
    context_hasher.update(context);
    const std::array<std::uint8_t, 32> context_key = context_hasher.finalize();
    std::uint32_t k[8];
    detail::b3::key_words(context_key.data(), k);
    return blake3_hasher(k, detail::b3::flag_derive_key_material);
  }

  blake3_hasher& update(const void* data, std::size_t size) noexcept {
    namespace b3 = detail::b3;
    const auto* in = static_cast<const std::uint8_t*>(data);
    while (size > 0) {
      if (chunk_.len() == b3::chunk_len) {
        // The buffered chunk is complete and more input follows: it is not the root.
        std::uint32_t cv[8];
        chunk_.output().chaining_value(cv);
        const std::uint64_t total = chunk_.chunk_counter + 1;
        push_chunk_cv(cv, total);
        chunk_.reset(key_, total, flags_);
      }
      if (chunk_.len() == 0 && size > b3::chunk_len) {
        // Whole chunks that are certainly followed by more input bypass the buffer.
        std::size_t whole = (size - 1) / b3::chunk_len;
        std::uint64_t counter = chunk_.chunk_counter;
#if LOGLINE_B3_LANES_ENABLED
        while (whole >= b3::lanes) {
          std::uint32_t cvs[b3::lanes][8];
          b3::hash_chunks_lanes(in, key_, counter, flags_, cvs);
          for (std::size_t j = 0; j < b3::lanes; ++j) push_chunk_cv(cvs[j], counter + j + 1);
          counter += b3::lanes;
          in += b3::lanes * b3::chunk_len;
          size -= b3::lanes * b3::chunk_len;
          whole -= b3::lanes;
        }
#endif
        while (whole > 0) {
          std::uint32_t cv[8];
          b3::hash_full_chunk(in, key_, counter, flags_, cv);
          push_chunk_cv(cv, counter + 1);
          ++counter;
          in += b3::chunk_len;
          size -= b3::chunk_len;
          --whole;
        }
        chunk_.reset(key_, counter, flags_);
      }
      std::size_t take = b3::chunk_len - chunk_.len();
      if (take > size) take = size;
      chunk_.update(in, take);
      in += take;
      size -= take;
    }
    return *this;
  }

  blake3_hasher& update(std::string_view bytes) noexcept {
    return update(bytes.data(), bytes.size());
  }

  void finalize(std::uint8_t* out, std::size_t out_len) const noexcept {
    finalize_seek(0, out, out_len);
  }

  void finalize_seek(std::uint64_t offset, std::uint8_t* out, std::size_t out_len) const noexcept {
    if (out_len == 0) return;
    root_output().root_bytes(offset, out, out_len);
  }

  std::array<std::uint8_t, 32> finalize() const noexcept {
    std::array<std::uint8_t, 32> out;
    finalize(out.data(), out.size());
    return out;
  }

  void reset() noexcept {
    chunk_.reset(key_, 0, flags_);
    stack_len_ = 0;
  }

 private:
  blake3_hasher(const std::uint32_t (&key)[8], std::uint32_t flags) noexcept : flags_(flags) {
    for (int i = 0; i < 8; ++i) key_[i] = key[i];
    reset();
  }

  // Adds the chaining value of chunk number total_chunks-1. Each trailing zero
  // bit of total_chunks is a subtree that just became complete: merge it.
  void push_chunk_cv(const std::uint32_t (&chunk_cv)[8], std::uint64_t total_chunks) noexcept {
    std::uint32_t cv[8];
    for (int i = 0; i < 8; ++i) cv[i] = chunk_cv[i];
    while ((total_chunks & 1) == 0) {
      --stack_len_;
      detail::b3::parent_output(stack_[stack_len_], cv, key_, flags_).chaining_value(cv);
      total_chunks >>= 1;
    }
    for (int i = 0; i < 8; ++i) stack_[stack_len_][i] = cv[i];
    ++stack_len_;
  }

  // The root node: the current chunk merged with everything on the stack, right to left.
  detail::b3::output_node root_output() const noexcept {
    detail::b3::output_node out = chunk_.output();
    for (std::size_t i = stack_len_; i > 0; --i) {
      std::uint32_t right[8];
      out.chaining_value(right);
      out = detail::b3::parent_output(stack_[i - 1], right, key_, flags_);
    }
    return out;
  }

  std::uint32_t key_[8];
  std::uint32_t flags_;
  detail::b3::chunk_state chunk_;
  std::uint32_t stack_[detail::b3::max_depth][8];
  std::size_t stack_len_ = 0;
};

inline std::array<std::uint8_t, 32> blake3(std::string_view bytes) noexcept {
  blake3_hasher h;
  h.update(bytes);
  return h.finalize();
}

inline std::string blake3_hex(std::string_view bytes) {
  const std::array<std::uint8_t, 32> digest = blake3(bytes);
  return detail::to_hex(digest);
}

}  // namespace logline

#undef LOGLINE_B3_INLINE
#undef LOGLINE_B3_NOINLINE
#undef LOGLINE_B3_LANES_ENABLED
