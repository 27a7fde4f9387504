# `cmake --install` puts headers, the library and a package config into a prefix so that an
# outside project can `find_package(svckit)` and link `svckit::svckit`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS svckit svckit_base svckit_http svckit_sql svckit_bus svckit_kv svckit_auth svckit_metrics
  svckit_health svckit_messaging svckit_ai svckit_flags svckit_tracing svckit_app svckit_testing svckit_grpc svckit_allocator EXPORT svckitTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/svckit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT svckitTargets NAMESPACE svckit:: FILE svckitTargets.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/svckit)

configure_package_config_file(cmake/svckitConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/svckitConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/svckit)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/svckitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/svckitConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/svckitConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/svckit)

# The svckit command (svckit new, svckit bundle), the templates it renders, and what generated
# projects take from svckit: the alert rules with their tests, the dashboard writer.
install(PROGRAMS tools/svckit DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY templates/ DESTINATION ${CMAKE_INSTALL_DATADIR}/svckit/templates)
install(FILES deploy/prometheus/rules/svckit.yml DESTINATION ${CMAKE_INSTALL_DATADIR}/svckit/prometheus/rules)
install(FILES deploy/prometheus/tests/svckit_test.yml DESTINATION ${CMAKE_INSTALL_DATADIR}/svckit/prometheus/tests)
install(FILES tools/dashboards.py tools/svckit_repository.py DESTINATION ${CMAKE_INSTALL_DATADIR}/svckit/tools)
