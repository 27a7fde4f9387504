#include "files_service.hpp"

int main(int argc, char** argv) {
  return svckit::run<raptorflow::files::FilesService>("files", argc, argv);
}
