file(REMOVE_RECURSE
  "CMakeFiles/convkit.dir/src/auto_select.cpp.o"
  "CMakeFiles/convkit.dir/src/auto_select.cpp.o.d"
  "CMakeFiles/convkit.dir/src/backends/naive/naive_conv.cpp.o"
  "CMakeFiles/convkit.dir/src/backends/naive/naive_conv.cpp.o.d"
  "CMakeFiles/convkit.dir/src/backends/naive/naive_pool.cpp.o"
  "CMakeFiles/convkit.dir/src/backends/naive/naive_pool.cpp.o.d"
  "CMakeFiles/convkit.dir/src/conv2d.cpp.o"
  "CMakeFiles/convkit.dir/src/conv2d.cpp.o.d"
  "CMakeFiles/convkit.dir/src/isa.cpp.o"
  "CMakeFiles/convkit.dir/src/isa.cpp.o.d"
  "CMakeFiles/convkit.dir/src/params.cpp.o"
  "CMakeFiles/convkit.dir/src/params.cpp.o.d"
  "CMakeFiles/convkit.dir/src/pool2d.cpp.o"
  "CMakeFiles/convkit.dir/src/pool2d.cpp.o.d"
  "CMakeFiles/convkit.dir/src/problem_string.cpp.o"
  "CMakeFiles/convkit.dir/src/problem_string.cpp.o.d"
  "CMakeFiles/convkit.dir/src/registry.cpp.o"
  "CMakeFiles/convkit.dir/src/registry.cpp.o.d"
  "CMakeFiles/convkit.dir/src/tuning.cpp.o"
  "CMakeFiles/convkit.dir/src/tuning.cpp.o.d"
  "libconvkit.a"
  "libconvkit.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/convkit.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
