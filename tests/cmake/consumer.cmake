# Builds and runs a consumer project of logline.
#   MODE=find_package      `cmake --install` BUILD_DIR into WORK_DIR/prefix, then build
#                          tests/cmake/find_package against that prefix only
#   MODE=add_subdirectory  build tests/cmake/add_subdirectory, which add_subdirectory()s SOURCE_DIR
# The consumer prints blake3("abc"); the test checks it, and (find_package) the installed CLI.
#
#   cmake -DMODE=... -DSOURCE_DIR=... -DBUILD_DIR=... -DWORK_DIR=... -DGENERATOR=... -DCXX=...
#         [-DMAKE_PROGRAM=...] [-DLAUNCHER=ccache] [-DCONFIG=Release] [-DEXPECT_CLI=ON]
#         -P consumer.cmake
cmake_minimum_required(VERSION 3.23)

foreach(var IN ITEMS MODE SOURCE_DIR BUILD_DIR WORK_DIR GENERATOR CXX)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "consumer.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()
set(expected_output "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85")  # b3sum of "abc"

function(run step)
  message(STATUS "consumer(${MODE}): ${step}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "consumer(${MODE}): ${step} failed (${result}):\n${output}")
  endif()
  set(run_output "${output}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(configure_args
  -G "${GENERATOR}"
  "-DCMAKE_BUILD_TYPE=${CONFIG}"
  "-DCMAKE_CXX_COMPILER=${CXX}"
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(LAUNCHER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
endif()

if(MODE STREQUAL "find_package")
  set(prefix "${WORK_DIR}/prefix")
  run("install into ${prefix}" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}" --config "${CONFIG}")
  list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${prefix}")
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND configure_args "-DLOGLINE_SOURCE_DIR=${SOURCE_DIR}")
else()
  message(FATAL_ERROR "consumer.cmake: unknown MODE '${MODE}'")
endif()

run("configure" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/tests/cmake/${MODE}" -B "${WORK_DIR}/build" ${configure_args})
run("build" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --config "${CONFIG}")

if(MODE STREQUAL "find_package")
  # The package must come from the temporary prefix, not from some system-wide install.
  file(STRINGS "${WORK_DIR}/build/CMakeCache.txt" logline_dir REGEX "^logline_DIR:")
  string(REGEX REPLACE "^logline_DIR:[A-Z]+=" "" logline_dir "${logline_dir}")
  cmake_path(IS_PREFIX prefix "${logline_dir}" NORMALIZE from_prefix)
  if(NOT from_prefix)
    message(FATAL_ERROR "consumer(find_package): logline was found in '${logline_dir}', not under '${prefix}'")
  endif()
  set(installed_files include/logline/logline.hpp include/logline/sqlite.hpp)
  if(EXPECT_CLI)
    list(APPEND installed_files bin/logline-cli bin/logline-server bin/logline-scheduler)
  endif()
  foreach(installed IN LISTS installed_files)
    if(NOT EXISTS "${prefix}/${installed}")
      message(FATAL_ERROR "consumer(find_package): ${installed} was not installed")
    endif()
  endforeach()
endif()

set(program "${WORK_DIR}/build/logline_consumer")
if(NOT EXISTS "${program}")
  set(program "${WORK_DIR}/build/${CONFIG}/logline_consumer")
endif()
run("run ${program}" "${program}")
string(STRIP "${run_output}" run_output)
if(NOT run_output STREQUAL expected_output)
  message(FATAL_ERROR "consumer(${MODE}): printed '${run_output}', expected '${expected_output}'")
endif()
message(STATUS "consumer(${MODE}): ok, printed ${run_output}")
