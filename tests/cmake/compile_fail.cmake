# compile_fail harness: SOURCE must FAIL to compile, and the compiler's output must contain the
# text of each of its `// expect: <text>` lines (plain substring match; a text cannot contain ';').
#
#   cmake -DCONFIG_FILE=<build>/tests/logline-check-config.cmake -DSOURCE=<file.cpp> -P compile_fail.cmake
#
# The compiler runs with -fsyntax-only, LC_ALL=C (ASCII quotes) and without source-line echo
# (-fno-diagnostics-show-caret), so an expected text written in a comment of the failing line
# cannot match itself. Verdicts (the self-tests in tests/CMakeLists.txt match on them):
#   "compile-fail ok: ..."                        pass
#   "... compiled without errors ..."             fail
#   "... lacks the expected text ..."             fail
#   "... has no '// expect: <text>' line ..."     fail
cmake_minimum_required(VERSION 3.23)

foreach(var IN ITEMS CONFIG_FILE SOURCE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "compile_fail.cmake: -D${var}=... is required")
  endif()
endforeach()
include("${CONFIG_FILE}")

# Prints the verdict unformatted (message(FATAL_ERROR) re-wraps long lines), then fails.
function(compile_fail_report verdict)
  message(NOTICE "${verdict}")
  message(FATAL_ERROR "compile-fail FAILED (see above)")
endfunction()

file(STRINGS "${SOURCE}" expect_lines REGEX "//[ \t]*expect:")
set(expected "")
foreach(line IN LISTS expect_lines)
  string(REGEX REPLACE "^.*//[ \t]*expect:[ \t]*" "" text "${line}")
  string(STRIP "${text}" text)
  if(NOT text STREQUAL "")
    list(APPEND expected "${text}")
  endif()
endforeach()
if(NOT expected)
  compile_fail_report("compile-fail FAILED: ${SOURCE} has no '// expect: <text>' line")
endif()

# Flags: include dirs of logline's public targets. The implicit system directory is dropped
# (-I/usr/include would reorder libstdc++'s #include_next chain).
set(flags ${LOGLINE_CHECK_STD})
list(REMOVE_DUPLICATES LOGLINE_CHECK_INCLUDE_DIRS)
foreach(dir IN LISTS LOGLINE_CHECK_INCLUDE_DIRS)
  if(NOT dir STREQUAL "" AND NOT dir STREQUAL "/usr/include")
    list(APPEND flags "-I${dir}")
  endif()
endforeach()
list(REMOVE_DUPLICATES LOGLINE_CHECK_DEFINITIONS)
foreach(def IN LISTS LOGLINE_CHECK_DEFINITIONS)
  if(NOT def STREQUAL "")
    list(APPEND flags "-D${def}")
  endif()
endforeach()
list(APPEND flags ${LOGLINE_CHECK_OPTIONS})

execute_process(
  COMMAND "${CMAKE_COMMAND}" -E env LC_ALL=C LANG=C
          "${LOGLINE_CHECK_CXX}" ${flags} -fsyntax-only -fno-diagnostics-show-caret
          -fdiagnostics-color=never "${SOURCE}"
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)

if(result EQUAL 0)
  compile_fail_report("compile-fail FAILED: ${SOURCE} compiled without errors (expected a compile error containing: ${expected})\n${output}")
endif()

# Normalise typographic quotes in case a compiler ignores LC_ALL.
string(REPLACE "‘" "'" output "${output}")
string(REPLACE "’" "'" output "${output}")
set(missing "")
foreach(text IN LISTS expected)
  string(FIND "${output}" "${text}" position)
  if(position EQUAL -1)
    list(APPEND missing "${text}")
  endif()
endforeach()
if(missing)
  list(JOIN missing "\n    " missing_text)
  compile_fail_report("compile-fail FAILED: ${SOURCE} failed to compile, but the compiler output lacks the expected text:\n    ${missing_text}\n---- compiler output ----\n${output}")
endif()

list(LENGTH expected count)
message("compile-fail ok: ${SOURCE} (${count} expected text(s) found)")
