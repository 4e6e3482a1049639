
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/src/auto_select.cpp" "CMakeFiles/convkit.dir/src/auto_select.cpp.o" "gcc" "CMakeFiles/convkit.dir/src/auto_select.cpp.o.d"
  "/work/main/src/backends/naive/naive_conv.cpp" "CMakeFiles/convkit.dir/src/backends/naive/naive_conv.cpp.o" "gcc" "CMakeFiles/convkit.dir/src/backends/naive/naive_conv.cpp.o.d"
  "/work/main/src/backends/naive/naive_pool.cpp" "CMakeFiles/convkit.dir/src/backends/naive/naive_pool.cpp.o" "gcc" "CMakeFiles/convkit.dir/src/backends/naive/naive_pool.cpp.o.d"
  "/work/main/src/conv2d.cpp" "CMakeFiles/convkit.dir/src/conv2d.cpp.o" "gcc" "CMakeFiles/convkit.dir/src/conv2d.cpp.o.d"
  "/work/main/src/isa.cpp" "CMakeFiles/convkit.dir/src/isa.cpp.o" "gcc" "CMakeFiles/convkit.dir/src/isa.cpp.o.d"
  "/work/main/src/params.cpp" "CMakeFiles/convkit.dir/src/params.cpp.o" "gcc" "CMakeFiles/convkit.dir/src/params.cpp.o.d"
  "/work/main/src/pool2d.cpp" "CMakeFiles/convkit.dir/src/pool2d.cpp.o" "gcc" "CMakeFiles/convkit.dir/src/pool2d.cpp.o.d"
  "/work/main/src/problem_string.cpp" "CMakeFiles/convkit.dir/src/problem_string.cpp.o" "gcc" "CMakeFiles/convkit.dir/src/problem_string.cpp.o.d"
  "/work/main/src/registry.cpp" "CMakeFiles/convkit.dir/src/registry.cpp.o" "gcc" "CMakeFiles/convkit.dir/src/registry.cpp.o.d"
  "/work/main/src/tuning.cpp" "CMakeFiles/convkit.dir/src/tuning.cpp.o" "gcc" "CMakeFiles/convkit.dir/src/tuning.cpp.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
