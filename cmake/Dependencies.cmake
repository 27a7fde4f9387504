# Everything svckit links comes from Debian packages (see dev.sh).
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED CONFIG COMPONENTS headers)
find_package(nlohmann_json 3.10 REQUIRED CONFIG)
find_package(prometheus-cpp REQUIRED CONFIG)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL 3 REQUIRED)
# libxcrypt (Debian libcrypt-dev): bcrypt password hashes through crypt_r.
find_library(CRYPT_LIBRARY crypt REQUIRED)
# rabbitmq-c (Debian librabbitmq-dev): the bus's RabbitMQ backend.
find_library(RABBITMQ_LIBRARY rabbitmq REQUIRED)
find_path(RABBITMQ_INCLUDE_DIR amqp.h REQUIRED)
