# Optional peers of the benchmarks (oneDNN, OpenBLAS): benchmarked side by side when usable,
# left out with one status line when not. Never fatal.
#
# A peer is found by its library and header and proven by linking a one-line program, not
# through its own CMake package: Debian's dnnl-config.cmake looks up OpenCL as REQUIRED, which
# aborts the whole configure on a machine without OpenCL's headers, and a REQUIRED lookup inside
# a package's config file cannot be caught by a QUIET find_package around it.
# -DCMAKE_DISABLE_FIND_PACKAGE_<name>=ON leaves a peer out on purpose (.ci/run does).
include(CheckCXXSourceCompiles)

# convkit_find_peer(<name> <what> LIBRARY <lib> HEADER <header> CALL <expression> PACKAGE <deb>
#                   [INCLUDE <header the check includes, default HEADER>] [PATH_SUFFIXES ...])
# On success defines the imported target convkit::peer::<name> and sets <name>_USABLE in the
# caller's scope; <what> is how the status line names the peer.
function(convkit_find_peer name what)
  cmake_parse_arguments(ARG "" "LIBRARY;HEADER;INCLUDE;CALL;PACKAGE" "PATH_SUFFIXES" ${ARGN})
  set(${name}_USABLE OFF PARENT_SCOPE)
  if(CMAKE_DISABLE_FIND_PACKAGE_${name})
    message(STATUS "convkit benchmarks: ${what} disabled (CMAKE_DISABLE_FIND_PACKAGE_${name}), left out")
    return()
  endif()
  find_library(CONVKIT_${name}_LIBRARY ${ARG_LIBRARY})
  find_path(CONVKIT_${name}_INCLUDE_DIR ${ARG_HEADER} PATH_SUFFIXES ${ARG_PATH_SUFFIXES})
  if(NOT CONVKIT_${name}_LIBRARY OR NOT CONVKIT_${name}_INCLUDE_DIR)
    message(STATUS "convkit benchmarks: ${what} not found (apt-get install ${ARG_PACKAGE}), left out")
    return()
  endif()
  if(NOT ARG_INCLUDE)
    set(ARG_INCLUDE ${ARG_HEADER})
  endif()
  set(CMAKE_REQUIRED_LIBRARIES ${CONVKIT_${name}_LIBRARY})
  set(CMAKE_REQUIRED_INCLUDES ${CONVKIT_${name}_INCLUDE_DIR})
  set(CMAKE_REQUIRED_QUIET ON)
  check_cxx_source_compiles("#include <${ARG_INCLUDE}>\nint main() { (void)(${ARG_CALL}); return 0; }"
                            CONVKIT_${name}_LINKS)
  if(NOT CONVKIT_${name}_LINKS)
    message(STATUS "convkit benchmarks: ${what} found (${CONVKIT_${name}_LIBRARY}) but a program using it "
                   "does not link, left out")
    return()
  endif()
  add_library(convkit::peer::${name} INTERFACE IMPORTED)
  target_link_libraries(convkit::peer::${name} INTERFACE ${CONVKIT_${name}_LIBRARY})
  target_include_directories(convkit::peer::${name} SYSTEM INTERFACE ${CONVKIT_${name}_INCLUDE_DIR})
  message(STATUS "convkit benchmarks: ${what} found (${CONVKIT_${name}_LIBRARY}), benchmarked side by side")
  set(${name}_USABLE ON PARENT_SCOPE)
endfunction()
