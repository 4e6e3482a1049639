#----------------------------------------------------------------
# Generated CMake target import file for configuration "Release".
#----------------------------------------------------------------

# Commands may need to know the format version.
set(CMAKE_IMPORT_FILE_VERSION 1)

# Import target "convkit::convkit" for configuration "Release"
set_property(TARGET convkit::convkit APPEND PROPERTY IMPORTED_CONFIGURATIONS RELEASE)
set_target_properties(convkit::convkit PROPERTIES
  IMPORTED_LINK_INTERFACE_LANGUAGES_RELEASE "CXX"
  IMPORTED_LOCATION_RELEASE "${_IMPORT_PREFIX}/lib/libconvkit.a"
  )

list(APPEND _cmake_import_check_targets convkit::convkit )
list(APPEND _cmake_import_check_files_for_convkit::convkit "${_IMPORT_PREFIX}/lib/libconvkit.a" )

# Commands beyond this point should not need to know the version.
set(CMAKE_IMPORT_FILE_VERSION)
