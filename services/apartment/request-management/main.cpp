#include <svckit/app/run.hpp>

#include "request_management.hpp"

int main(int argc, char** argv) {
  return svckit::run<apartment::requests::RequestManagement>("request-management", argc, argv);
}
