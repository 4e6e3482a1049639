# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
include("/work/main/build/tests/seed_test[1]_include.cmake")
include("/work/main/build/tests/conv_backend_test[1]_include.cmake")
include("/work/main/build/tests/pool_backend_test[1]_include.cmake")
include("/work/main/build/tests/pool_test[1]_include.cmake")
include("/work/main/build/tests/gradient_test[1]_include.cmake")
include("/work/main/build/tests/validation_test[1]_include.cmake")
include("/work/main/build/tests/tune_test[1]_include.cmake")
add_test([=[install_and_find_package]=] "/usr/bin/cmake" "-DSOURCE_DIR=/work/main" "-DBINARY_DIR=/work/main/build" "-P" "/work/main/cmake/test_install.cmake")
set_tests_properties([=[install_and_find_package]=] PROPERTIES  _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;23;add_test;/work/main/tests/CMakeLists.txt;0;")
