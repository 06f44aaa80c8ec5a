#pragma once
// logline's version. CMake reads it from here (project(logline VERSION ...)), so the headers,
// the package's config-version file and every program's --version say the same.
#define LOGLINE_VERSION_MAJOR 0
#define LOGLINE_VERSION_MINOR 1
#define LOGLINE_VERSION_PATCH 0

#define LOGLINE_VERSION_TEXT_(x) #x
#define LOGLINE_VERSION_TEXT(x) LOGLINE_VERSION_TEXT_(x)

namespace logline {
// "MAJOR.MINOR.PATCH"
inline constexpr const char* version =
    LOGLINE_VERSION_TEXT(LOGLINE_VERSION_MAJOR) "." LOGLINE_VERSION_TEXT(
        LOGLINE_VERSION_MINOR) "." LOGLINE_VERSION_TEXT(LOGLINE_VERSION_PATCH);
}  // namespace logline
