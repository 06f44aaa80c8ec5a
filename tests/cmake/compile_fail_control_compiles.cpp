// Control for the compile_fail harness: this file COMPILES, so the harness must report it
// ("compiled without errors"). ctest entry: compile_fail.selftest.compiles.
#include <logline/assert.hpp>

int main() { return 0; }

// expect: logline: this text is never printed by the compiler
