// @name@'s process: its settings (--help lists them), its lifecycle (/health, /ready, graceful
// SIGTERM), /metrics, /openapi.json and /docs come with svckit::run.
#include <svckit/app/run.hpp>

#include "@snake@.hpp"

int main(int argc, char** argv) {
  return svckit::run<@snake@_service::@camel@>("@name@", argc, argv);
}
