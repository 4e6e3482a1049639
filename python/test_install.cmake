# ctest driver: install convkit into a scratch prefix and import the package from there alone,
# as a user who ran cmake --install would.
set(prefix ${BINARY_DIR}/python-install-test)
file(REMOVE_RECURSE ${prefix})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix} COMMAND_ERROR_IS_FATAL ANY OUTPUT_QUIET)
execute_process(COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${prefix}/${INSTALL_DIR}
                        ${Python3_EXECUTABLE} -c
                        "import convkit, numpy as np; assert convkit.__file__.startswith('${prefix}/'), convkit.__file__; z, _ = convkit.conv_forward(np.ones((1, 3, 3, 2)), np.ones((3, 3, 2, 1)), np.zeros((1, 1, 1, 1)), {'stride': 1, 'pad': 0}); assert z.item() == 18.0, z; print('imported', convkit.__file__)"
                WORKING_DIRECTORY ${prefix} COMMAND_ERROR_IS_FATAL ANY)
