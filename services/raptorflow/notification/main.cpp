#include <svckit/app/run.hpp>

#include "notification_service.hpp"

int main(int argc, char** argv) {
  return svckit::run<raptorflow::notification::NotificationService>("notification", argc, argv);
}
