// Control for the compile_fail harness: this file fails to compile but states no expected text,
// which the harness must refuse. ctest entry: compile_fail.selftest.no_expectation.
int main() { return undeclared_name; }
