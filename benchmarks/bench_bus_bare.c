/* The calibration for svckit's bus over RabbitMQ: what a bare rabbitmq-c program does on the same
 * broker with the same guarantees (persistent messages on a durable queue, publisher confirms,
 * consumer acks), and nothing else.
 *
 *   build/bin/bench_bus_bare MESSAGES HOST PORT [WINDOW=512] [PREFETCH=1000] [ACK_EVERY=100]
 *                            [ENVELOPE=plain]
 *
 * One publisher on its own connection sends persistent ~150-byte JSON messages to a durable
 * queue, with up to WINDOW publishes unconfirmed; one consumer thread on a second connection,
 * prefetch PREFETCH, acknowledges every ACK_EVERY-th delivery with `multiple`. Prints messages/s
 * published-and-confirmed and consumed-and-acked, and a RESULT line in JSON for
 * benchmarks/bench_bus_rabbitmq.py. Exits 1 on any AMQP error.
 *
 * ENVELOPE says what the broker is given to route and parse:
 *   plain        the default exchange, content type and delivery mode only (the calibration)
 *   cloudevents  what svckit's bus sends: a topic exchange with the queue bound to a pattern,
 *                and a CloudEvent in binary mode (the attributes as `cloudEvents:` headers, id,
 *                source, type and time also as AMQP properties), the data alone in the body */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char* queue_name = "bench-bare";
static const char* topic_exchange = "bench-bare.topic";
static const char* host;
static int port;
static long messages;
static int prefetch;
static int ack_every;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_on_reply(amqp_rpc_reply_t reply, const char* what) {
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
  fprintf(stderr, "bench_bus_bare: %s failed (reply type %d, library error %d)\n", what,
          (int)reply.reply_type, reply.library_error);
  exit(1);
}

static void die_on_status(int status, const char* what) {
  if (status >= 0) return;
  fprintf(stderr, "bench_bus_bare: %s: %s\n", what, amqp_error_string2(status));
  exit(1);
}

static amqp_connection_state_t open_connection(void) {
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(conn);
  if (!socket) die_on_status(-1, "socket");
  die_on_status(amqp_socket_open(socket, host, port), "connect");
  die_on_reply(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
               "login");
  amqp_channel_open(conn, 1);
  die_on_reply(amqp_get_rpc_reply(conn), "channel.open");
  return conn;
}

static void close_connection(amqp_connection_state_t conn) {
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
}

static double consumer_done_at;

static void* consume(void* ready_flag) {
  amqp_connection_state_t conn = open_connection();
  amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
  die_on_reply(amqp_get_rpc_reply(conn), "basic.qos");
  amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue_name), amqp_empty_bytes, 0, 0, 0,
                     amqp_empty_table);
  die_on_reply(amqp_get_rpc_reply(conn), "basic.consume");
  __atomic_store_n((int*)ready_flag, 1, __ATOMIC_RELEASE);
  long consumed = 0;
  uint64_t last_tag = 0;
  while (consumed < messages) {
    amqp_envelope_t envelope;
    amqp_maybe_release_buffers(conn);
    die_on_reply(amqp_consume_message(conn, &envelope, NULL, 0), "consume");
    last_tag = envelope.delivery_tag;
    amqp_destroy_envelope(&envelope);
    if (++consumed % ack_every == 0)
      die_on_status(amqp_basic_ack(conn, 1, last_tag, 1), "basic.ack");
  }
  if (consumed % ack_every != 0) die_on_status(amqp_basic_ack(conn, 1, last_tag, 1), "basic.ack");
  consumer_done_at = now_s();
  close_connection(conn);
  return NULL;
}

/* Reads frames until at least one confirm arrived; returns the highest tag confirmed so far. */
static uint64_t await_confirms(amqp_connection_state_t conn, uint64_t confirmed) {
  do {
    amqp_frame_t frame;
    die_on_status(amqp_simple_wait_frame(conn, &frame), "wait for confirm");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
      fprintf(stderr, "bench_bus_bare: the broker refused a message\n");
      exit(1);
    }
    if (frame.payload.method.id != AMQP_BASIC_ACK_METHOD) continue;
    amqp_basic_ack_t* ack = frame.payload.method.decoded;
    confirmed = ack->delivery_tag; /* with or without `multiple`, everything up to it */
  } while (amqp_frames_enqueued(conn) || amqp_data_in_buffer(conn));
  amqp_maybe_release_buffers(conn);
  return confirmed;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bench_bus_bare MESSAGES HOST PORT [WINDOW] [PREFETCH] [ACK_EVERY]\n");
    return 2;
  }
  messages = atol(argv[1]);
  host = argv[2];
  port = atoi(argv[3]);
  long window = argc > 4 ? atol(argv[4]) : 512;
  prefetch = argc > 5 ? atoi(argv[5]) : 1000;
  ack_every = argc > 6 ? atoi(argv[6]) : 100;
  const char* envelope = argc > 7 ? argv[7] : "plain";
  int cloudevents = strcmp(envelope, "cloudevents") == 0;
  if (messages <= 0 || window <= 0 || prefetch <= 0 || ack_every <= 0) {
    fprintf(stderr, "bench_bus_bare: counts must be positive\n");
    return 2;
  }
  if (!cloudevents && strcmp(envelope, "plain") != 0) {
    fprintf(stderr, "bench_bus_bare: ENVELOPE is plain or cloudevents\n");
    return 2;
  }

  amqp_connection_state_t conn = open_connection();
  amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue_name), 0, 1, 0, 0, amqp_empty_table);
  die_on_reply(amqp_get_rpc_reply(conn), "queue.declare");
  amqp_queue_purge(conn, 1, amqp_cstring_bytes(queue_name));
  die_on_reply(amqp_get_rpc_reply(conn), "queue.purge");
  if (cloudevents) {
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes(topic_exchange), amqp_cstring_bytes("topic"),
                          0, 1, 0, 0, amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(conn), "exchange.declare");
    amqp_queue_bind(conn, 1, amqp_cstring_bytes(queue_name), amqp_cstring_bytes(topic_exchange),
                    amqp_cstring_bytes("bench.#"), amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(conn), "queue.bind");
  }
  amqp_confirm_select(conn, 1);
  die_on_reply(amqp_get_rpc_reply(conn), "confirm.select");

  int consumer_ready = 0;
  pthread_t consumer;
  pthread_create(&consumer, NULL, consume, &consumer_ready);
  while (!__atomic_load_n(&consumer_ready, __ATOMIC_ACQUIRE)) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }

  amqp_basic_properties_t props;
  memset(&props, 0, sizeof props);
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = amqp_cstring_bytes("application/json");
  props.delivery_mode = 2;
  char id[40];
  amqp_table_entry_t headers[5] = {
      {amqp_cstring_bytes("cloudEvents:specversion"), {AMQP_FIELD_KIND_UTF8, {0}}},
      {amqp_cstring_bytes("cloudEvents:id"), {AMQP_FIELD_KIND_UTF8, {0}}},
      {amqp_cstring_bytes("cloudEvents:source"), {AMQP_FIELD_KIND_UTF8, {0}}},
      {amqp_cstring_bytes("cloudEvents:type"), {AMQP_FIELD_KIND_UTF8, {0}}},
      {amqp_cstring_bytes("cloudEvents:time"), {AMQP_FIELD_KIND_UTF8, {0}}}};
  if (cloudevents) {
    props._flags |= AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_APP_ID_FLAG |
                    AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_TIMESTAMP_FLAG;
    headers[0].value.value.bytes = amqp_cstring_bytes("1.0");
    headers[2].value.value.bytes = props.app_id = amqp_cstring_bytes("bench");
    headers[3].value.value.bytes = props.type = amqp_cstring_bytes("bench.tick");
    headers[4].value.value.bytes = amqp_cstring_bytes("2026-12-06T00:00:00.000Z");
    props.timestamp = (uint64_t)time(NULL);
    props.headers.num_entries = 5;
    props.headers.entries = headers;
  }
  amqp_bytes_t exchange = cloudevents ? amqp_cstring_bytes(topic_exchange) : amqp_empty_bytes;
  amqp_bytes_t routing_key = amqp_cstring_bytes(cloudevents ? "bench.tick" : queue_name);
  char body[256];
  double started = now_s();
  uint64_t published = 0, confirmed = 0;
  for (long i = 0; i < messages; ++i) {
    while (published - confirmed >= (uint64_t)window) confirmed = await_confirms(conn, confirmed);
    int n;
    if (cloudevents) { /* the attributes travel as headers; the body is the data */
      snprintf(id, sizeof id, "00000000-0000-4000-8000-%012ld", i);
      headers[1].value.value.bytes = props.message_id = amqp_cstring_bytes(id);
      n = snprintf(body, sizeof body, "{\"sent\":%.9f}", now_s());
    } else {
      n = snprintf(body, sizeof body,
                   "{\"id\":\"%ld\",\"source\":\"bench\",\"type\":\"bench.tick\","
                   "\"time\":\"2026-12-06T00:00:00Z\",\"data\":{\"sent\":%.9f,"
                   "\"padding\":\"abcdefghijklmnopqrstuvwxyz\"}}",
                   i, now_s());
    }
    amqp_bytes_t payload = {(size_t)n, body};
    die_on_status(amqp_basic_publish(conn, 1, exchange, routing_key, 0, 0, &props, payload),
                  "basic.publish");
    ++published;
  }
  while (confirmed < published) confirmed = await_confirms(conn, confirmed);
  double published_s = now_s() - started;
  pthread_join(consumer, NULL);
  double total_s = consumer_done_at - started;
  close_connection(conn);

  printf("bare rabbitmq-c, %ld persistent messages, window %ld, prefetch %d, ack every %d, %s\n",
         messages, window, prefetch, ack_every, envelope);
  printf("published and confirmed %10.0f /s\n", messages / published_s);
  printf("consumed and acked      %10.0f /s\n", messages / total_s);
  printf("RESULT {\"publish\": %.0f, \"end_to_end\": %.0f}\n", messages / published_s,
         messages / total_s);
  return 0;
}
