# Install rules of libedgellm: the public header, the shared library (SOVERSION = ABI major), a
# pkg-config file (edgellm.pc) and a CMake package (find_package(edgellm) -> edgellm::edgellm,
# with a SameMajorVersion version file). Both the .pc and the CMake files are relocatable, so
# `cmake --install build --prefix <dir>` works for any <dir>.
include(CMakePackageConfigHelpers)

set(EDGELLM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/edgellm)

install(TARGETS edgellm EXPORT edgellmTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/edgellm/edgellm.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/edgellm)

install(EXPORT edgellmTargets NAMESPACE edgellm:: FILE edgellmTargets.cmake
  DESTINATION ${EDGELLM_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/edgellmConfig.cmake.in
  ${PROJECT_BINARY_DIR}/edgellmConfig.cmake INSTALL_DESTINATION ${EDGELLM_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/edgellmConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/edgellmConfig.cmake ${PROJECT_BINARY_DIR}/edgellmConfigVersion.cmake
  DESTINATION ${EDGELLM_CMAKE_DIR})

# pkg-config: paths relative to the .pc file's own directory (${pcfiledir}) when the install
# directories are relative, so that the prefix chosen at install time is honoured.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(EDGELLM_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(EDGELLM_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(EDGELLM_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _edgellm_up "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
  string(REGEX REPLACE "/$" "" _edgellm_up "${_edgellm_up}")
  set(EDGELLM_PC_PREFIX "\${pcfiledir}/${_edgellm_up}")
  set(EDGELLM_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(EDGELLM_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/pkgconfig/edgellm.pc.in ${PROJECT_BINARY_DIR}/edgellm.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/edgellm.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
