#include <svckit/app/run.hpp>

#include "auth_service.hpp"

int main(int argc, char** argv) {
  return svckit::run<raptorflow::auth::AuthService>("auth", argc, argv);
}
