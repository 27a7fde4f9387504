#!/usr/bin/env python3
"""svckit's bus over RabbitMQ against a bare rabbitmq-c program and pika (the monolith's client),
on one fresh local broker in one run. Every message is persistent on a durable queue, confirmed
by the broker and acknowledged by its consumer.

  svckit       build/bin/bench_bus: 512 publishes awaiting confirms at once, two consumers on two
               loops with a prefetch of 500 each (1000 in all, as the calibration's one)
  calibration  build/bin/bench_bus_bare MESSAGES HOST PORT 512 1000 100 plain: one publisher with
               512 unconfirmed, one consumer with prefetch 1000 acking every 100th with
               `multiple`, through the default exchange, no headers
  envelope     the same program sending what svckit sends (ENVELOPE=cloudevents): the topic
               exchange and a CloudEvent in binary mode. The floor for svckit's wire format:
               the broker's extra work for routing and headers, with no client overhead.
  pika         what the monolith can do with BlockingConnection (one round, after the others):
           - end to end with confirms: a publisher process (confirm_delivery) and a consumer
             process (manual acks, prefetch 256) at once
           - publish without confirms (the seed's MessageBus.publish) and consume from a full
             queue, each alone

The first three run interleaved, ROUNDS times; the table shows each one's median round.

    /usr/bin/python3 benchmarks/bench_bus_rabbitmq.py [SVCKIT_MESSAGES=50000] [PIKA_MESSAGES=10000]
                                                      [--rounds 3] [--no-pika]
"""
import json
import multiprocessing
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import pika

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from rabbitmq_broker import Broker  # noqa: E402

EXCHANGE = "svckit.events"


def declare(url, queue, key):
    c = pika.BlockingConnection(pika.URLParameters(url))
    ch = c.channel()
    ch.exchange_declare(EXCHANGE, "topic", durable=True)
    ch.queue_declare(queue, durable=True)
    ch.queue_bind(queue, EXCHANGE, key)
    c.close()


def pika_publish(url, key, n, confirms):
    c = pika.BlockingConnection(pika.URLParameters(url))
    ch = c.channel()
    if confirms:
        ch.confirm_delivery()
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    for i in range(n):
        ch.basic_publish(EXCHANGE, key, json.dumps({"n": i, "t": time.monotonic()}), props)
    c.close()


def pika_consume(url, queue, n, out):
    c = pika.BlockingConnection(pika.URLParameters(url))
    ch = c.channel()
    ch.basic_qos(prefetch_count=256)
    latencies = []
    for method, _, body in ch.consume(queue):
        latencies.append((time.monotonic() - json.loads(body)["t"]) * 1e6)
        ch.basic_ack(method.delivery_tag)
        if len(latencies) == n:
            break
    ch.cancel()
    c.close()
    latencies.sort()
    out.put((time.monotonic(), latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]))


def pika_end_to_end(url, n):
    declare(url, "pika-e2e", "pika.e2e")
    out = multiprocessing.Queue()
    consumer = multiprocessing.Process(target=pika_consume, args=(url, "pika-e2e", n, out))
    consumer.start()
    time.sleep(0.5)  # consuming before the first publish
    started = time.monotonic()
    pika_publish(url, "pika.e2e", n, confirms=True)
    finished, p50, p99 = out.get(timeout=600)
    consumer.join()
    return {"end_to_end": n / (finished - started), "p50_us": p50, "p99_us": p99}


def pika_separately(url, n):
    declare(url, "pika-alone", "pika.alone")
    started = time.monotonic()
    pika_publish(url, "pika.alone", n, confirms=False)
    publish = n / (time.monotonic() - started)
    out = multiprocessing.Queue()
    started = time.monotonic()
    pika_consume(url, "pika-alone", n, out)
    consume = n / (out.get()[0] - started)
    return publish, consume


def run_result(argv):
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
    line = next(l for l in run.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def svckit(url, n):
    return run_result([str(ROOT / "build" / "bin" / "bench_bus"), str(n), url, "512", "thread", "-",
                       "prefetch=500"])


def bare(port, n, envelope):
    return run_result([str(ROOT / "build" / "bin" / "bench_bus_bare"), str(n), "127.0.0.1",
                       str(port), "512", "1000", "100", envelope])


def median_round(results):
    return sorted(results, key=lambda r: r["end_to_end"])[len(results) // 2]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = 3
    if "--rounds" in sys.argv:
        rounds = int(sys.argv[sys.argv.index("--rounds") + 1])
        args.remove(str(rounds))
    svckit_n = int(args[0]) if len(args) > 0 else 50000
    pika_n = int(args[1]) if len(args) > 1 else 10000
    with_pika = "--no-pika" not in sys.argv
    base = tempfile.mkdtemp(prefix="svckit-bench-rabbitmq-")
    os.chmod(base, 0o755)
    broker = Broker(base, 5687).start()
    runs = {"svckit": [], "calibration": [], "envelope": []}
    try:
        for r in range(rounds):
            runs["calibration"].append(bare(broker.port, svckit_n, "plain"))
            runs["svckit"].append(svckit(broker.url, svckit_n))
            runs["envelope"].append(bare(broker.port, svckit_n, "cloudevents"))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]['end_to_end']:.0f}/s"
                                                  for k, v in runs.items()), flush=True)
        if with_pika:
            p = pika_end_to_end(broker.url, pika_n)
            pika_pub, pika_con = pika_separately(broker.url, pika_n)
    finally:
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)
    s, c, e = (median_round(runs[k]) for k in ("svckit", "calibration", "envelope"))
    print(f"RabbitMQ {broker.url}, persistent messages, durable queues; median of {rounds} "
          "interleaved rounds")
    print(f"{'':44}{'msg/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'svckit end to end (confirms+acks)':44}{s['end_to_end']:10.0f}{s['p50_us']/1000:10.1f}{s['p99_us']/1000:10.1f}")
    print(f"{'bare rabbitmq-c, plain (the calibration)':44}{c['end_to_end']:10.0f}")
    print(f"{'bare rabbitmq-c, svckit envelope':44}{e['end_to_end']:10.0f}")
    if with_pika:
        print(f"{'pika end to end (confirms+acks)':44}{p['end_to_end']:10.0f}{p['p50_us']/1000:10.1f}{p['p99_us']/1000:10.1f}")
        print(f"{'pika publish, no confirms':44}{pika_pub:10.0f}")
        print(f"{'pika consume, acks':44}{pika_con:10.0f}")
    print(f"svckit / calibration:                 {s['end_to_end'] / c['end_to_end']:.2f}x  (target >= 0.9x)")
    print(f"envelope / calibration:               {e['end_to_end'] / c['end_to_end']:.2f}x  (the broker's share)")
    print(f"svckit / bare with the same envelope: {s['end_to_end'] / e['end_to_end']:.2f}x")
    if with_pika:
        print(f"svckit / pika end to end:             {s['end_to_end'] / p['end_to_end']:.1f}x  (target >= 3x)")
    print(f"svckit end to end vs 20,000/s target: {s['end_to_end'] / 20000:.2f}x")


if __name__ == "__main__":
    main()
