# Everything svckit links comes from Debian packages (see dev.sh).
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED CONFIG COMPONENTS headers)
find_package(nlohmann_json 3.10 REQUIRED CONFIG)
find_package(prometheus-cpp REQUIRED CONFIG)
find_package(SQLite3 REQUIRED)
find_package(PostgreSQL REQUIRED)
find_package(OpenSSL 3 REQUIRED)
# libxcrypt (Debian libcrypt-dev): bcrypt password hashes through crypt_r.
find_library(CRYPT_LIBRARY crypt REQUIRED)
# rabbitmq-c (Debian librabbitmq-dev): the bus's RabbitMQ backend.
find_library(RABBITMQ_LIBRARY rabbitmq REQUIRED)
find_path(RABBITMQ_INCLUDE_DIR amqp.h REQUIRED)
# hiredis 0.14 (Debian's libhiredis-dev): svckit::kv uses its reply parser only.
find_library(HIREDIS_LIBRARY hiredis REQUIRED)
# RE2: JSON Schema patterns matched in linear time (a schema is someone's input).
find_library(RE2_LIBRARY re2 REQUIRED)
find_path(HIREDIS_INCLUDE_DIR hiredis/hiredis.h REQUIRED)
# gRPC and Protobuf (Debian libgrpc++-dev, libprotobuf-dev, protobuf-compiler-grpc): svckit::grpc.
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
# XGBoost's C API (Debian libxgboost-dev): the apartment system's risk model. Found by hand:
# Debian's xgboost-config.cmake names /usr/bin/xgboost, which only the CLI package has.
find_library(XGBOOST_LIBRARY xgboost REQUIRED)
find_path(XGBOOST_INCLUDE_DIR xgboost/c_api.h REQUIRED)
add_library(xgboost::xgboost UNKNOWN IMPORTED)
set_target_properties(xgboost::xgboost PROPERTIES IMPORTED_LOCATION ${XGBOOST_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${XGBOOST_INCLUDE_DIR})
include(${CMAKE_CURRENT_LIST_DIR}/Proto.cmake)

# svckit::allocator: what svckit's programs allocate with. jemalloc (Debian libjemalloc-dev), as
# userver does: events and request state are allocated on one thread and freed on another, and
# glibc's malloc then serialises both threads on one arena lock (the in-process bus ran at
# 0.9-1.0M events/s with it and 1.8-2.3M with jemalloc; docs/benchmarks.md). Programs link it;
# libraries never do (the Python module keeps the interpreter's allocator). The sanitizers bring
# their own allocator.
add_library(svckit_allocator INTERFACE)
add_library(svckit::allocator ALIAS svckit_allocator)
set_target_properties(svckit_allocator PROPERTIES EXPORT_NAME allocator)
if(SVCKIT_JEMALLOC AND NOT SVCKIT_SANITIZE)
  find_library(JEMALLOC_LIBRARY jemalloc REQUIRED)
  target_link_libraries(svckit_allocator INTERFACE ${JEMALLOC_LIBRARY})
endif()
