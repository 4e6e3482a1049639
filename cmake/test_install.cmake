# ctest driver: install convkit into a scratch prefix, then build and run examples/consumer
# against it with find_package(convkit), as a user's project would.
set(prefix ${BINARY_DIR}/install-test)
file(REMOVE_RECURSE ${prefix} ${BINARY_DIR}/consumer-build)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix} COMMAND_ERROR_IS_FATAL ANY
                OUTPUT_QUIET)
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/consumer -B ${BINARY_DIR}/consumer-build
                        -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release COMMAND_ERROR_IS_FATAL ANY OUTPUT_QUIET)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BINARY_DIR}/consumer-build COMMAND_ERROR_IS_FATAL ANY OUTPUT_QUIET)
execute_process(COMMAND ${BINARY_DIR}/consumer-build/consumer COMMAND_ERROR_IS_FATAL ANY)
