# Per-instruction-set builds of micro-kernel families.
#
# A family is a struct of function pointers (say GemmKernels) and a header of templates on the
# xsimd arch tag with a factory returning the struct for one arch. For every instruction set,
# this generates a translation unit from kernel_arch.cpp.in that includes only that header and
# is compiled with only that instruction set's flags; isa.hpp's kernels<Family>(isa) then picks
# one at run time. Shared code is never compiled with these flags.

set(CONVKIT_ISAS sse2 avx2 avx512)
set(CONVKIT_ISA_XSIMD_sse2 "xsimd::sse2")
set(CONVKIT_ISA_XSIMD_avx2 "xsimd::fma3<xsimd::avx2>")
set(CONVKIT_ISA_XSIMD_avx512 "xsimd::avx512f")
set(CONVKIT_ISA_FLAGS_sse2 "")
set(CONVKIT_ISA_FLAGS_avx2 "-mavx2;-mfma")
# xsimd 8.1's AVX-512 horizontal add needs DQ.
set(CONVKIT_ISA_FLAGS_avx512 "-mavx512f;-mavx512dq;-mavx2;-mfma")

set(_convkit_kernel_template ${CMAKE_CURRENT_LIST_DIR}/kernel_arch.cpp.in)

# convkit_kernel_family(<target> <name> <struct> <impl header> <factory> [AVX512_OPTIONS <option>...]):
# AVX512_OPTIONS are added to the family's AVX-512 unit only.
function(convkit_kernel_family target name type header factory)
  cmake_parse_arguments(PARSE_ARGV 5 family "" "" "AVX512_OPTIONS")
  foreach(isa IN LISTS CONVKIT_ISAS)
    set(ISA ${isa})
    set(TYPE ${type})
    set(HEADER ${header})
    set(FACTORY ${factory})
    set(XSIMD_ARCH "${CONVKIT_ISA_XSIMD_${isa}}")
    set(out ${CMAKE_CURRENT_BINARY_DIR}/kernels/${name}__${isa}.cpp)
    configure_file(${_convkit_kernel_template} ${out} @ONLY)
    target_sources(${target} PRIVATE ${out})
    set(options ${CONVKIT_ISA_FLAGS_${isa}})
    if(isa STREQUAL "avx512")
      list(APPEND options ${family_AVX512_OPTIONS})
    endif()
    set_source_files_properties(${out} PROPERTIES COMPILE_OPTIONS "${options}")
  endforeach()
endfunction()
