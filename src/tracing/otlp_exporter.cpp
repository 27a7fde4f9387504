#include "svckit/tracing/otlp_exporter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "svckit/http/client.hpp"

namespace svckit::tracing {

namespace asio = boost::asio;

namespace {

// "http://host:4318/v1/traces" -> {"http://host:4318", "/v1/traces"}.
std::pair<std::string, std::string> split_url(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos ||
      (url.compare(0, scheme, "http") != 0 && url.compare(0, scheme, "https") != 0))
    throw std::invalid_argument("the OTLP endpoint must be an http(s) URL, not \"" + url + "\"");
  auto path = url.find('/', scheme + 3);
  if (path == std::string::npos) return {url, "/"};
  return {url.substr(0, path), url.substr(path)};
}

}  // namespace

// Spans encoded by one recording thread, waiting for the exporter: the thread appends under a
// lock only the exporter ever contends for, when it takes them.
struct SpanBuffer {
  std::mutex mutex;
  std::string bytes;              // encoded spans back to back
  std::vector<std::size_t> ends;  // where each ends in `bytes`
  std::atomic<bool> gone{false};  // its thread has exited: dropped once emptied
};

// What the exporter took from a buffer.
struct TakenSpans {
  std::string bytes;
  std::vector<std::size_t> ends;
};

// A thread's buffer for the exporter it last recorded into, marked gone when the thread exits
// (gRPC's pool and the blocking pool come and go: their buffers must not pile up).
struct ThreadsBuffer {
  std::uint64_t owner = 0;
  std::shared_ptr<SpanBuffer> buffer;
  ~ThreadsBuffer() {
    if (buffer) buffer->gone = true;
  }
};

std::atomic<std::uint64_t> next_exporter_id{1};

struct OtlpExporter::Impl {
  OtlpExporterOptions options;
  const std::uint64_t id = next_exporter_id.fetch_add(1);
  std::string target;  // the endpoint's path
  asio::io_context io;
  std::unique_ptr<http::Client> client;
  asio::steady_timer timer{io};

  std::mutex mutex;  // the buffers' list, the flags below
  std::condition_variable flushed;
  std::vector<std::shared_ptr<SpanBuffer>> buffers;  // one per thread that recorded
  bool stopping = false;
  std::uint64_t flushes_asked = 0, flushes_done = 0;
  std::atomic<std::size_t> queued{0};  // spans in the buffers

  std::atomic<std::uint64_t> exported{0}, dropped{0};
  meter::Counter* exported_metric = nullptr;
  meter::Counter* dropped_full = nullptr;
  meter::Counter* dropped_failed = nullptr;
  std::thread thread;

  explicit Impl(OtlpExporterOptions o) : options(std::move(o)) {
    auto [base, path] = split_url(options.endpoint);
    target = path;
    options.max_batch = std::max<std::size_t>(1, options.max_batch);
    options.max_queue = std::max(options.max_queue, options.max_batch);
    http::ClientOptions client_options{.name = "otlp", .timeout = options.timeout};
    client_options.breaker.reset();  // a collector away: each export fails at once anyway
    client = std::make_unique<http::Client>(base, std::move(client_options));
    if (options.metrics) {
      exported_metric =
          &options.metrics
               ->counters("svckit_trace_spans_exported_total", "Spans an OTLP collector accepted.")
               .add({});
      auto& dropped_family = options.metrics->counters(
          "svckit_trace_spans_dropped_total",
          "Spans not exported: the queue full (the collector slow or away), or an export failed.");
      dropped_full = &dropped_family.add({{"reason", "queue_full"}});
      dropped_failed = &dropped_family.add({{"reason", "export_failed"}});
    }
    asio::co_spawn(io, run(), asio::detached);
    thread = std::thread([this] { io.run(); });
  }

  ~Impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake();
    thread.join();
    client.reset();  // its pooled connections, before the loop they belong to
  }

  void wake() {
    asio::post(io, [this] { timer.cancel(); });
  }

  void drop(meter::Counter* metric, std::size_t n) {
    dropped.fetch_add(n, std::memory_order_relaxed);
    if (metric) metric->increment(n);
  }

  // This thread's buffer for this exporter, made and listed on its first span.
  SpanBuffer& this_threads_buffer() {
    thread_local ThreadsBuffer mine;
    if (mine.owner != id) {
      if (mine.buffer) mine.buffer->gone = true;  // another exporter's: it lets it go
      mine.buffer = std::make_shared<SpanBuffer>();
      mine.owner = id;
      std::lock_guard lock(mutex);
      buffers.push_back(mine.buffer);
    }
    return *mine.buffer;
  }

  void record(const trace::SpanView& span) {
    const std::size_t before = queued.fetch_add(1, std::memory_order_relaxed);
    if (before >= options.max_queue) {
      queued.fetch_sub(1, std::memory_order_relaxed);
      drop(dropped_full, 1);
      return;
    }
    auto& b = this_threads_buffer();
    {
      std::lock_guard lock(b.mutex);
      if (options.json)
        trace::append_json_span(b.bytes, span);
      else
        trace::append_protobuf_span(b.bytes, span);
      b.ends.push_back(b.bytes.size());
    }
    if (before + 1 == options.max_batch) wake();  // once per batch, not per span
  }

  // Waits out the delay unless there is a reason not to (a batch full, a flush asked, the end),
  // then sends everything queued, a batch at a time. A wake() posted while it sends finds no
  // wait to cancel; the reasons are looked at again before each wait.
  Task<void> run() {
    std::vector<TakenSpans> taken;  // from the buffers; swapped back, so capacity is kept
    while (true) {
      bool due;
      {
        std::lock_guard lock(mutex);
        due = stopping || flushes_asked > flushes_done ||
              queued.load(std::memory_order_relaxed) >= options.max_batch;
      }
      if (!due) {
        timer.expires_after(options.delay);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      std::uint64_t asked;
      bool stop;
      {
        std::lock_guard lock(mutex);
        asked = flushes_asked;
        stop = stopping;
      }
      take(taken);
      co_await send(taken, stop);
      {
        std::lock_guard lock(mutex);
        flushes_done = asked;
      }
      flushed.notify_all();
      if (stop) {
        io.stop();  // pooled connections' reads would keep the loop running
        co_return;
      }
    }
  }

  // Swaps every buffer's spans into `taken` (cleared buffers of the last round, capacity kept),
  // and lets go of the buffers of threads that have exited once they are empty.
  void take(std::vector<TakenSpans>& taken) {
    std::vector<std::shared_ptr<SpanBuffer>> all;
    {
      std::lock_guard lock(mutex);
      all = buffers;
    }
    if (taken.size() < all.size()) taken.resize(all.size());
    std::size_t spans = 0;
    bool some_gone = false;
    for (std::size_t i = 0; i < all.size(); ++i) {
      taken[i].bytes.clear();
      taken[i].ends.clear();
      some_gone |= all[i]->gone.load();  // read before the swap: what it wrote is taken now
      std::lock_guard lock(all[i]->mutex);
      std::swap(taken[i].bytes, all[i]->bytes);
      std::swap(taken[i].ends, all[i]->ends);
      spans += taken[i].ends.size();
    }
    queued.fetch_sub(spans, std::memory_order_relaxed);
    if (some_gone) {
      std::lock_guard lock(mutex);
      std::erase_if(buffers, [](const auto& b) { return b->gone.load(); });
    }
  }

  // Sends what was taken, at most max_batch spans a request. At the end, one export's timeout
  // in all: what is left when it has passed, or after an export failed, is dropped and counted.
  Task<void> send(const std::vector<TakenSpans>& taken, bool last) {
    const auto until = std::chrono::steady_clock::now() + options.timeout;
    std::size_t left = 0;
    for (const auto& b : taken) left += b.ends.size();
    std::vector<std::string_view> batch;
    for (const auto& b : taken) {
      std::size_t begin = 0;
      for (std::size_t end : b.ends) {
        batch.emplace_back(b.bytes.data() + begin, end - begin);
        begin = end;
        --left;
        if (batch.size() < options.max_batch && left > 0) continue;
        bool sent = false;
        if (!last || std::chrono::steady_clock::now() < until) {
          sent = co_await send_batch(batch);
        } else {
          drop(dropped_failed, batch.size());
        }
        batch.clear();
        if (last && !sent) {
          drop(dropped_failed, left);
          co_return;
        }
      }
    }
  }

  // One export; whether the collector accepted it (else its spans are counted as dropped).
  Task<bool> send_batch(const std::vector<std::string_view>& batch) {
    http::ClientRequest request;
    request.method = http::Method::post;
    request.target = target;
    request.body = options.json ? trace::otlp_json_request(options.resource, batch)
                                : trace::otlp_protobuf_request(options.resource, batch);
    request.content_type = options.json ? "application/json" : "application/x-protobuf";
    request.headers = {options.headers.begin(), options.headers.end()};
    bool accepted = false;
    try {
      auto answer = co_await client->send(std::move(request));
      accepted = answer.status >= 200 && answer.status < 300;
    } catch (const std::exception&) {
      accepted = false;  // no answer: the collector away, or too slow
    }
    if (accepted) {
      exported.fetch_add(batch.size(), std::memory_order_relaxed);
      if (exported_metric) exported_metric->increment(batch.size());
    } else {
      drop(dropped_failed, batch.size());
    }
    co_return accepted;
  }

  void flush() {
    std::unique_lock lock(mutex);
    const auto ticket = ++flushes_asked;
    lock.unlock();
    wake();
    lock.lock();
    flushed.wait(lock, [&] { return flushes_done >= ticket; });
  }
};

OtlpExporter::OtlpExporter(OtlpExporterOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

OtlpExporter::~OtlpExporter() = default;

void OtlpExporter::record(const trace::SpanView& span) {
  impl_->record(span);
}

void OtlpExporter::flush() {
  impl_->flush();
}

std::uint64_t OtlpExporter::exported() const {
  return impl_->exported.load(std::memory_order_relaxed);
}

std::uint64_t OtlpExporter::dropped() const {
  return impl_->dropped.load(std::memory_order_relaxed);
}

std::vector<std::pair<std::string, std::string>> parse_otlp_headers(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& a : trace::parse_resource_attributes(text))
    out.emplace_back(a.key, std::get<std::string>(a.value));
  return out;
}

}  // namespace svckit::tracing
