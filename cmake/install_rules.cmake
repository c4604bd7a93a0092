# Install rules: `cmake --install build --prefix DIR` (or `make install PREFIX=DIR`) lays out
#   bin/allocmeter, lib/allocmeter/ (liballocmeter_recorder.so and liballocmeter_virtual_clock.so,
#   which allocmeter preloads), share/allocmeter/allocmeter_plots.py,
#   include/allocmeter/allocators/*.hpp and share/cmake/allocmeter/ (find_package(allocmeter)).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The recorder and the virtual clock are preloaded, never linked against, so they sit in a
# folder of their own, off the linker's path. The binary finds them and the chart script from
# its own folder, by these paths
# relative to bin/: any --prefix given at install time works, and so does a moved tree.
set(ALLOCMETER_PRELOAD_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/allocmeter)
set(ALLOCMETER_DATA_INSTALL_DIR ${CMAKE_INSTALL_DATADIR}/allocmeter)
set(ALLOCMETER_HEADERS_INSTALL_DIR ${CMAKE_INSTALL_INCLUDEDIR}/allocmeter)
set(ALLOCMETER_PACKAGE_INSTALL_DIR ${CMAKE_INSTALL_DATADIR}/cmake/allocmeter)  # header-only: arch-independent
file(RELATIVE_PATH preload_from_bin ${CMAKE_INSTALL_FULL_BINDIR}
     ${CMAKE_INSTALL_PREFIX}/${ALLOCMETER_PRELOAD_INSTALL_DIR})
file(RELATIVE_PATH data_from_bin ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_PREFIX}/${ALLOCMETER_DATA_INSTALL_DIR})
target_compile_definitions(allocmeter_core PRIVATE
  ALLOCMETER_PRELOAD_FROM_BIN="${preload_from_bin}"
  ALLOCMETER_DATA_FROM_BIN="${data_from_bin}")

install(TARGETS allocmeter RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS allocmeter_recorder allocmeter_virtual_clock LIBRARY DESTINATION ${ALLOCMETER_PRELOAD_INSTALL_DIR})
install(PROGRAMS ${PROJECT_SOURCE_DIR}/plots/allocmeter_plots.py DESTINATION ${ALLOCMETER_DATA_INSTALL_DIR})

# The reference allocators, included as "allocators/NAME.hpp" under include/allocmeter. They
# include only each other and system headers; the workloads stay in the source tree.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/allocators/ DESTINATION ${ALLOCMETER_HEADERS_INSTALL_DIR}/allocators
        FILES_MATCHING PATTERN "*.hpp" PATTERN "tests" EXCLUDE)

# allocmeter::allocators: the header target itself, exported with the installed include folder.
set_target_properties(allocmeter_headers PROPERTIES EXPORT_NAME allocators)
install(TARGETS allocmeter_headers EXPORT allocmeterTargets INCLUDES DESTINATION ${ALLOCMETER_HEADERS_INSTALL_DIR})
install(EXPORT allocmeterTargets NAMESPACE allocmeter:: DESTINATION ${ALLOCMETER_PACKAGE_INSTALL_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/allocmeterConfig.cmake.in
  ${PROJECT_BINARY_DIR}/allocmeterConfig.cmake INSTALL_DESTINATION ${ALLOCMETER_PACKAGE_INSTALL_DIR})
# Before 1.0 a minor release may change the headers: only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/allocmeterConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/allocmeterConfig.cmake ${PROJECT_BINARY_DIR}/allocmeterConfigVersion.cmake
        DESTINATION ${ALLOCMETER_PACKAGE_INSTALL_DIR})
