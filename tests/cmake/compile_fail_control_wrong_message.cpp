// Control for the compile_fail harness: this file fails to compile, but not with the expected
// text, so the harness must report it ("lacks the expected text").
// ctest entry: compile_fail.selftest.wrong_message.
#include <logline/assert.hpp>

template <class T>
void refuse() {
  static_assert(sizeof(T) == 0, "logline: a different sentence");
}

int main() { refuse<int>(); }  // expect: logline: the sentence this control expects
