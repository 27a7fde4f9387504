// Raptorflow on one machine: its services in one process, one port, SQLite files under DATA_DIR,
// the in-process bus and key-value store. What `./dev.sh run raptorflow` starts behind the
// gateway (services/gateway/config/raptorflow-local.json). With DATABASE_URL, REDIS_URL and
// BUS_URL the same modules run as separate binaries (auth, configuration, agent, notification,
// files, analytics) over PostgreSQL, Redis and RabbitMQ.
#include <svckit/app/run.hpp>

#include "agent_service.hpp"
#include "analytics.hpp"
#include "auth_service.hpp"
#include "configuration_service.hpp"
#include "files_service.hpp"
#include "notification_service.hpp"

int main(int argc, char** argv) {
  return svckit::run<raptorflow::auth::AuthService, raptorflow::configuration::ConfigurationService,
                     raptorflow::agent::AgentService, raptorflow::notification::NotificationService,
                     raptorflow::files::FilesService, aether::analytics::Analytics>("raptorflow",
                                                                                    argc, argv);
}
