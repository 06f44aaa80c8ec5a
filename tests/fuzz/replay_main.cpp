// Driver for the fuzz targets without libFuzzer: runs LLVMFuzzerTestOneInput once on the empty
// input and once on every file given (directories are walked recursively, in sorted order).
// Used by the fuzz_replay.<name> ctest entries; `make fuzz` links the real libFuzzer instead.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz replay: cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>()};
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);

  std::size_t inputs = 1;
  LLVMFuzzerTestOneInput(nullptr, 0);

  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path root{argv[i]};
    std::error_code error;
    if (std::filesystem::is_directory(root, error)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& file : files) {
        ok = run_file(file) && ok;
        ++inputs;
      }
    } else if (std::filesystem::exists(root, error)) {
      ok = run_file(root) && ok;
      ++inputs;
    } else {
      std::printf("fuzz replay: %s does not exist (no corpus yet)\n", root.c_str());
    }
  }
  std::printf("fuzz replay: %zu input(s) ran\n", inputs);
  return ok ? 0 : 1;
}
