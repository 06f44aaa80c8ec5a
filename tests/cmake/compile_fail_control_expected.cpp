// Control for the compile_fail harness: this file fails with the expected texts (one of them on
// the failing line itself, which must not match its own echo), so the harness must accept it.
// It also checks that the flags reach logline's include directories.
// ctest entry: compile_fail.selftest.expected.
#include <logline/assert.hpp>

template <class T>
void refuse() {
  static_assert(sizeof(T) == 0, "logline: control sentence");
}

int main() { refuse<int>(); }  // expect: logline: control sentence
// expect: refuse
