#!/usr/bin/env python3
"""A load client for a running `kindling serve`: the load test's mix from outside the process.

Sends `--requests` requests from `--clients` threads to `--url` (loopback), cycling through the
calls of `tests/serve.rs`'s load test (see `serve_pipeline_bench.py`: for each of five texts,
/predict on it, /embed on it, /predict on it and the next). Every answer must be 200. Prints one
JSON line: requests per second, p50/p99 latency, and with `--pid` the server's peak RSS
(VmHWM from /proc). Standard library only.
"""

import argparse
import json
import threading
import time
import urllib.request

from serve_pipeline_bench import calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--pid", type=int, help="the server's pid, for its peak RSS")
    args = parser.parse_args()
    plan = [(route, json.dumps({"inputs": texts if len(texts) > 1 else texts[0]}).encode())
            for route, texts in calls()]
    latencies = []
    errors = []
    lock = threading.Lock()

    def client(first):
        for i in range(first, args.requests, args.clients):
            route, body = plan[i % len(plan)]
            request = urllib.request.Request(
                args.url + route, data=body, headers={"content-type": "application/json"}
            )
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    response.read()
                    status = response.status
            except Exception as e:  # noqa: BLE001 - every failure is reported
                status = str(e)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    errors.append(status)

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    latencies.sort()
    row = {
        "requests": args.requests,
        "clients": args.clients,
        "errors": len(errors),
        "seconds": seconds,
        "requests_per_s": args.requests / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
    }
    if args.pid:
        with open(f"/proc/{args.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    row["server_peak_rss_bytes"] = int(line.split()[1]) * 1024
    print(json.dumps(row))
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, first: {errors[0]}")


if __name__ == "__main__":
    main()
