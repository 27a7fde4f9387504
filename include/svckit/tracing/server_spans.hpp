#pragma once
// A SERVER span for every request a Server answers, from its trace context: named
// "GET /api/v1/tasks/{id}" (the route, never the raw path: one name per operation), with
// OpenTelemetry's HTTP attributes, an error status for a 5xx. Installed by an App as an observer
// (Server::observe) when spans are exported; costs one atomic load per request otherwise.
#include <memory>
#include <string>
#include <vector>

#include "svckit/http/request_observer.hpp"

namespace svckit::tracing {

// `untraced`: route templates whose requests are not spans (an App passes its probes and
// /metrics: a kubelet and a scraper would fill the traces with them).
std::shared_ptr<http::RequestObserver> server_spans(std::vector<std::string> untraced = {});

}  // namespace svckit::tracing
