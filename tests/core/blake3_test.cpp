// Tests for logline's own BLAKE3 implementation: the official test vectors
// (tests/data/blake3_test_vectors.json) and a differential comparison with the
// b3sum command-line tool on random inputs.
#include "../support/catch.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "logline/blake3.hpp"

#ifndef LOGLINE_TEST_DATA_DIR
#define LOGLINE_TEST_DATA_DIR "tests/data"
#endif

namespace {

using logline::blake3_hasher;
using bytes = std::vector<std::uint8_t>;

constexpr std::size_t extended_len = 131;  // length of every output in the vector file

enum class mode { hash, keyed_hash, derive_key };
constexpr std::array<mode, 3> all_modes = {mode::hash, mode::keyed_hash, mode::derive_key};

const char* mode_name(mode m) {
  switch (m) {
    case mode::hash:
      return "hash";
    case mode::keyed_hash:
      return "keyed_hash";
    case mode::derive_key:
      return "derive_key";
  }
  return "?";
}

struct vector_case {
  std::size_t input_len = 0;
  std::string expected[3];  // indexed by mode, 131 bytes as lowercase hex
};

struct vector_file {
  std::string key;
  std::string context;
  std::vector<vector_case> cases;
};

const vector_file& vectors() {
  static const vector_file file = [] {
    const std::string path = std::string(LOGLINE_TEST_DATA_DIR) + "/blake3_test_vectors.json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open BLAKE3 test vector file " + path);
    const nlohmann::json j = nlohmann::json::parse(in);
    vector_file f;
    f.key = j.at("key").get<std::string>();
    f.context = j.at("context_string").get<std::string>();
    for (const auto& c : j.at("cases")) {
      vector_case vc;
      vc.input_len = c.at("input_len").get<std::size_t>();
      vc.expected[0] = c.at("hash").get<std::string>();
      vc.expected[1] = c.at("keyed_hash").get<std::string>();
      vc.expected[2] = c.at("derive_key").get<std::string>();
      f.cases.push_back(std::move(vc));
    }
    return f;
  }();
  return file;
}

// The input of the official vectors: bytes 0, 1, ..., 250, 0, 1, ...
std::string vector_input(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i % 251);
  return s;
}

std::array<std::uint8_t, 32> key_bytes(std::string_view key) {
  if (key.size() != 32) throw std::invalid_argument("BLAKE3 key must be 32 bytes");
  std::array<std::uint8_t, 32> k{};
  for (std::size_t i = 0; i < 32; ++i) k[i] = static_cast<std::uint8_t>(key[i]);
  return k;
}

blake3_hasher make_hasher(mode m, std::string_view key, std::string_view context) {
  switch (m) {
    case mode::hash:
      return blake3_hasher();
    case mode::keyed_hash: {
      const auto k = key_bytes(key);
      return blake3_hasher::keyed(k);
    }
    case mode::derive_key:
      return blake3_hasher::derive_key(context);
  }
  throw std::logic_error("unknown mode");
}

blake3_hasher vector_hasher(mode m) { return make_hasher(m, vectors().key, vectors().context); }

std::string hex(const std::uint8_t* p, std::size_t n) {
  return logline::detail::to_hex(std::span<const std::uint8_t>(p, n));
}

std::string xof_hex(const blake3_hasher& h, std::size_t n) {
  bytes out(n);
  h.finalize(out.data(), out.size());
  return hex(out.data(), out.size());
}

std::string seek_hex(const blake3_hasher& h, std::uint64_t offset, std::size_t n) {
  bytes out(n);
  h.finalize_seek(offset, out.data(), out.size());
  return hex(out.data(), out.size());
}

// Feeds `input` in pieces whose sizes cycle through `pieces`.
void feed_in_pieces(blake3_hasher& h, std::string_view input,
                    const std::vector<std::size_t>& pieces) {
  std::size_t at = 0;
  for (std::size_t k = 0; at < input.size(); ++k) {
    const std::size_t n = std::min(pieces[k % pieces.size()], input.size() - at);
    h.update(input.data() + at, n);
    at += n;
  }
}

}  // namespace

TEST_CASE("the official BLAKE3 test vector file is present and complete", "[core][blake3]") {
  const vector_file& f = vectors();
  CHECK(f.key == "whats the Elvish word for friend");
  CHECK(f.key.size() == 32);
  CHECK(f.context == "BLAKE3 2019-12-27 16:29:52 test vectors context");

  const std::vector<std::size_t> expected_lengths = {
      0,    1,    1023, 1024, 1025, 2048, 2049, 3072, 3073,  4096,  4097,
      5120, 5121, 6144, 6145, 7168, 7169, 8192, 8193, 16384, 31744, 102400};
  std::vector<std::size_t> lengths;
  for (const auto& c : f.cases) lengths.push_back(c.input_len);
  CHECK(lengths == expected_lengths);

  for (const auto& c : f.cases) {
    for (mode m : all_modes) {
      INFO("input_len " << c.input_len << ", mode " << mode_name(m));
      const std::string& h = c.expected[static_cast<int>(m)];
      CHECK(h.size() == 2 * extended_len);
      CHECK(h.find_first_not_of("0123456789abcdef") == std::string::npos);
    }
  }
}

TEST_CASE("blake3 reproduces the official test vectors in all three modes", "[core][blake3]") {
  for (const auto& c : vectors().cases) {
    const std::string input = vector_input(c.input_len);
    for (mode m : all_modes) {
      INFO("input_len " << c.input_len << ", mode " << mode_name(m));
      const std::string& expected = c.expected[static_cast<int>(m)];
      blake3_hasher h = vector_hasher(m);
      h.update(input);

      const std::array<std::uint8_t, 32> digest = h.finalize();
      CHECK(hex(digest.data(), digest.size()) == expected.substr(0, 64));
      CHECK(xof_hex(h, extended_len) == expected);
      // Shorter requests are prefixes of the same output stream.
      CHECK(xof_hex(h, 1) == expected.substr(0, 2));
      CHECK(xof_hex(h, 65) == expected.substr(0, 130));

      if (m == mode::hash) {
        const auto one_shot = logline::blake3(input);
        CHECK(hex(one_shot.data(), one_shot.size()) == expected.substr(0, 64));
        CHECK(logline::blake3_hex(input) == expected.substr(0, 64));
      }
    }
  }
}

TEST_CASE("blake3 finalize_seek returns the matching slice of the extended output",
          "[core][blake3]") {
  const std::vector<std::uint64_t> offsets = {0, 1, 31, 32, 33, 63, 64, 65, 100, 127, 128, 130};
  for (const auto& c : vectors().cases) {
    const std::string input = vector_input(c.input_len);
    for (mode m : all_modes) {
      const std::string& expected = c.expected[static_cast<int>(m)];
      blake3_hasher h = vector_hasher(m);
      h.update(input);
      for (std::uint64_t off : offsets) {
        const std::size_t rest = extended_len - static_cast<std::size_t>(off);
        for (std::size_t len : {std::size_t{1}, std::size_t{7}, std::size_t{64}, rest}) {
          const std::size_t n = std::min(len, rest);
          INFO("input_len " << c.input_len << ", mode " << mode_name(m) << ", offset " << off
                            << ", length " << n);
          CHECK(seek_hex(h, off, n) == expected.substr(static_cast<std::size_t>(2 * off), 2 * n));
        }
      }
    }
  }
}

TEST_CASE("blake3 extended output far away stays consistent across block boundaries",
          "[core][blake3]") {
  blake3_hasher h;
  h.update(vector_input(2049));
  // Output block 2^32 needs the high word of the 64-bit output block counter.
  const std::uint64_t block_2_32 = std::uint64_t{64} << 32;
  const std::string around = seek_hex(h, block_2_32 - 10, 84);  // blocks 2^32-1, 2^32, 2^32+1
  CHECK(seek_hex(h, block_2_32 - 10, 10) == around.substr(0, 20));
  CHECK(seek_hex(h, block_2_32, 64) == around.substr(20, 128));
  CHECK(seek_hex(h, block_2_32 + 64, 10) == around.substr(148, 20));
  // Dropping the high counter word would make block 2^32 repeat block 0.
  CHECK(seek_hex(h, block_2_32, 64) != seek_hex(h, 0, 64));
  CHECK(seek_hex(h, block_2_32, 64) != seek_hex(h, block_2_32 + 64, 64));
  CHECK(seek_hex(h, ~std::uint64_t{0} - 63, 64) != seek_hex(h, 0, 64));
}

TEST_CASE("blake3 gives the same result when the input arrives in irregular pieces",
          "[core][blake3]") {
  const std::vector<std::vector<std::size_t>> patterns = {
      {1}, {63}, {64}, {65}, {1023}, {1024}, {1025}, {1, 63, 64, 65, 1023, 1024, 1025, 4096, 3}};
  for (const auto& c : vectors().cases) {
    const std::string input = vector_input(c.input_len);
    for (mode m : all_modes) {
      const std::string& expected = c.expected[static_cast<int>(m)];
      for (const auto& pattern : patterns) {
        INFO("input_len " << c.input_len << ", mode " << mode_name(m) << ", first piece size "
                          << pattern.front() << ", pattern length " << pattern.size());
        blake3_hasher h = vector_hasher(m);
        feed_in_pieces(h, input, pattern);
        CHECK(xof_hex(h, extended_len) == expected);
      }
    }
  }
}

TEST_CASE("blake3 finalize leaves the state untouched so hashing can continue", "[core][blake3]") {
  const vector_case& c = vectors().cases.back();  // 102400 bytes: many chunks on the stack
  const std::string input = vector_input(c.input_len);
  for (mode m : all_modes) {
    INFO("mode " << mode_name(m));
    const std::string& expected = c.expected[static_cast<int>(m)];
    blake3_hasher h = vector_hasher(m);
    const std::size_t split = 5 * 1024 + 17;
    h.update(input.substr(0, split));
    // Intermediate finalizes are the hash of the prefix and must not disturb the state.
    const auto prefix1 = h.finalize();
    const auto prefix2 = h.finalize();
    CHECK(prefix1 == prefix2);
    blake3_hasher prefix_only = vector_hasher(m);
    prefix_only.update(input.substr(0, split));
    CHECK(prefix_only.finalize() == prefix1);

    h.update(input.substr(split));
    CHECK(xof_hex(h, extended_len) == expected);
    CHECK(xof_hex(h, extended_len) == expected);
    CHECK(prefix1 != h.finalize());
  }
}

TEST_CASE("blake3 reset and copies behave like fresh and independent hashers", "[core][blake3]") {
  const vector_case& c = vectors().cases[8];  // 3073 bytes
  REQUIRE(c.input_len == 3073);
  const std::string input = vector_input(c.input_len);
  for (mode m : all_modes) {
    INFO("mode " << mode_name(m));
    const std::string& expected = c.expected[static_cast<int>(m)];

    blake3_hasher h = vector_hasher(m);
    h.update(std::string(5000, 'z'));
    h.reset();
    h.update(input);
    CHECK(xof_hex(h, extended_len) == expected);  // same mode and key after reset

    blake3_hasher a = vector_hasher(m);
    a.update(input.substr(0, 2000));
    blake3_hasher b = a;  // copy mid-stream
    a.update(input.substr(2000));
    b.update("different tail");
    CHECK(xof_hex(a, extended_len) == expected);
    CHECK(xof_hex(b, 32) != expected.substr(0, 64));
  }

  // The empty-input digests of the three modes are all distinct.
  const std::string empty = vectors().cases.front().expected[0];
  CHECK(xof_hex(vector_hasher(mode::hash), 32) == empty.substr(0, 64));
  CHECK(xof_hex(vector_hasher(mode::keyed_hash), 32) != empty.substr(0, 64));
  CHECK(xof_hex(vector_hasher(mode::derive_key), 32) != empty.substr(0, 64));
}

// ---------------------------------------------------------------------------
// Differential testing against the b3sum tool (Debian package b3sum).

namespace {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("logline_blake3_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void write_file(const std::filesystem::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) {
    if (ch == '\'')
      q += "'\\''";
    else
      q += ch;
  }
  return q + "'";
}

// Runs a shell command and returns its standard output; exit_code receives the status.
std::string run(const std::string& command, int& exit_code) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    exit_code = -1;
    return out;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  exit_code = pclose(pipe);
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Catch's --rng-seed when given, else a fixed default (Catch 2 defaults to 0).
std::uint32_t test_seed() {
#if defined(CATCH_VERSION_MAJOR) && CATCH_VERSION_MAJOR >= 3
  const std::uint32_t s = Catch::getSeed();
#else
  const std::uint32_t s = Catch::rngSeed();
#endif
  return s != 0 ? s : 0x6c6f676cu;
}

// Random lengths in [0, 300 KiB], biased towards block and chunk boundaries.
std::size_t random_length(std::mt19937_64& rng) {
  auto pick = [&rng](std::uint64_t n) { return static_cast<std::size_t>(rng() % n); };
  const std::size_t jitter_choices[] = {0, 0, 0, 1, static_cast<std::size_t>(-1)};
  const std::size_t jitter = jitter_choices[pick(5)];
  std::size_t base = 0;
  switch (pick(6)) {
    case 0:
      return pick(257);  // tiny
    case 1:
      base = 64 * pick(33);
      break;  // block boundaries within 2 chunks
    case 2:
      base = 1024 * (1 + pick(300));
      break;  // chunk boundaries
    case 3:
      base = std::size_t{1024} << pick(9);
      break;  // power-of-two chunk counts (tree shapes)
    case 4:
      return 200 + pick(1801);  // the typical ledger entry size
    default:
      return pick(300 * 1024 + 1);  // anything
  }
  if (base == 0 && jitter == static_cast<std::size_t>(-1)) return 0;
  return base + jitter;
}

}  // namespace

TEST_CASE("blake3 agrees with the b3sum tool on random inputs in all three modes",
          "[core][blake3][b3sum]") {
  int status = 0;
  const std::string version = run("b3sum --version 2>&1", status);
  if (status != 0 || version.rfind("b3sum", 0) != 0) {
    FAIL("the b3sum command is required by this test but could not be run (exit status "
         << status << ", output '" << trim(version)
         << "'); install it, e.g. `apt-get install b3sum`");
  }

  const std::uint32_t seed = test_seed();
  INFO("random seed " << seed << " (rerun with --rng-seed " << seed << " to reproduce)");
  std::mt19937_64 rng(seed);

  temp_dir dir;
  const std::filesystem::path input_path = dir.path / "input.bin";
  const std::filesystem::path key_path = dir.path / "key.bin";
  const std::string input_arg = shell_quote(input_path.string());
  const std::string key_arg = shell_quote(key_path.string());

  std::vector<std::size_t> lengths = {
      0,    1,    63,   64,   65,   1023,         1024,      1025,          2047,
      2048, 2049, 3072, 4096, 4097, 8 * 1024 + 1, 64 * 1024, 64 * 1024 + 1, 300 * 1024};
  while (lengths.size() < 200) lengths.push_back(random_length(rng));

  const std::string context_chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .:-_/'\"$`\\";
  std::size_t compared = 0;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    const std::size_t len = lengths[i];
    std::string input(len, '\0');
    for (char& ch : input) ch = static_cast<char>(rng() & 0xff);
    write_file(input_path, input);

    // Output length: mostly beyond the default 32 bytes, sometimes shorter.
    const std::size_t out_len = (i % 4 == 0) ? 32 : 1 + static_cast<std::size_t>(rng() % 300);

    std::array<std::uint8_t, 32> key{};
    for (auto& b : key) b = static_cast<std::uint8_t>(rng() & 0xff);
    write_file(key_path, std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));

    std::string context;
    const std::size_t context_len = static_cast<std::size_t>(rng() % 61);
    for (std::size_t k = 0; k < context_len; ++k)
      context += context_chars[rng() % context_chars.size()];

    INFO("input #" << i << " of length " << len << ", output length " << out_len << ", context '"
                   << context << "'");

    for (mode m : all_modes) {
      INFO("mode " << mode_name(m));
      std::string cmd = "b3sum --num-threads 1 --no-names --length " + std::to_string(out_len);
      blake3_hasher h;
      switch (m) {
        case mode::hash:
          break;
        case mode::keyed_hash:
          cmd += " --keyed";
          h = blake3_hasher::keyed(key);
          break;
        case mode::derive_key:
          // The "=" form also accepts contexts that start with '-' or are empty.
          cmd += " --derive-key=" + shell_quote(context);
          h = blake3_hasher::derive_key(context);
          break;
      }
      cmd += " " + input_arg;
      if (m == mode::keyed_hash) cmd += " < " + key_arg;
      cmd += " 2>&1";

      const std::string expected = trim(run(cmd, status));
      INFO("command: " << cmd << "\noutput: " << expected);
      REQUIRE(status == 0);
      REQUIRE(expected.size() == 2 * out_len);

      h.update(input);
      CHECK(xof_hex(h, out_len) == expected);
      ++compared;
    }
  }
  CHECK(compared == 3 * lengths.size());
}
