#pragma once
// svckit::testing in one include: an App under test (TestApp), a typed client (TestClient), the
// events it published (EventRecorder), stand-in upstreams (StandIn). Link svckit::testing.
#include "svckit/testing/event_recorder.hpp"
#include "svckit/testing/stand_in.hpp"
#include "svckit/testing/test_app.hpp"
#include "svckit/testing/test_client.hpp"
