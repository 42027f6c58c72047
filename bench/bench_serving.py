"""How much does the model server add to `predict`'s own cost? Requests per second and p50/p99 latency of
`audioclf serve` for 5 s recordings, with 1 and 4 concurrent clients, beside the in-process rate.

The recordings: the first --recordings utterances of --data-root that are at least 5 s long, cut to 5 s and
encoded as FLAC (what a client uploads). In-process: `Classifier.read_bytes` + `classify_samples` on each
(predict's code path; TensorFlow's default threads, as in the server). Server: started as `audioclf serve`
starts it (its own environment), warmed up (WARM_UP requests), then --requests V1 requests (one recording each, base64) from
1 client (alternating with the in-process calls, so both see the same machine load) and from 4 clients at
once (threads of this process, each on one kept-alive HTTP connection).
The goal: server p50 at 1 client within 20 % of the in-process p50.

Run:  .venv/bin/python -m bench.bench_serving [--model output/demo/serving] [--requests 60] [--quick] [--out FILE]
"""
import argparse
import base64
import concurrent.futures
import glob
import http.client
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench import _util
from serving import local_server

SECONDS = 5.0
GOAL_OVERHEAD = 0.20
WARM_UP = 12   # untimed requests (and in-process calls) before the timed ones


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(_util.REPO_ROOT, "output", "demo", "serving"))
    p.add_argument("--data-root", default=os.path.join(_util.REPO_ROOT, "data", "librispeech-mini"))
    p.add_argument("--recordings", type=int, default=20, help="distinct 5 s recordings (cycled through)")
    p.add_argument("--requests", type=int, default=60, help="timed requests per client setting")
    p.add_argument("--clients", default="1,4", help="concurrent clients, comma-separated")
    p.add_argument("--quick", action="store_true", help="smoke check: 3 recordings, 6 requests (not a measurement)")
    p.add_argument("--out", default=None, help="Markdown file (default bench/results/serving.md)")
    args = p.parse_args(argv)
    if args.quick:
        args.recordings, args.requests = 3, 6
    if args.out is None:
        args.out = _util.results_path("serving", args.quick)
    return args


def recordings(data_root: str, count: int):
    """(FLAC bytes of 5 s) x count, from the corpus's utterances of at least 5 s, in path order."""
    import soundfile as sf  # pylint: disable=import-outside-toplevel
    out = []
    for path in sorted(glob.glob(os.path.join(data_root, "**", "*.flac"), recursive=True)):
        samples, rate = sf.read(path, dtype="float32")
        if len(samples) >= SECONDS * rate:
            buffer = io.BytesIO()
            sf.write(buffer, samples[:int(SECONDS * rate)], rate, format="FLAC")
            out.append(buffer.getvalue())
        if len(out) == count:
            return out
    raise SystemExit(f"{data_root} holds {len(out)} utterances of >= {SECONDS:g} s; {count} were asked for")


def local_classifier(model: str, files):
    """predict's Classifier in this process, warmed up; call(i) classifies recording i as `predict` would."""
    from trainer.classifier import Classifier  # pylint: disable=import-outside-toplevel
    classifier = Classifier(model)

    def call(i: int) -> float:
        start = time.perf_counter()
        classifier.classify_samples(classifier.read_bytes(files[i % len(files)], f"recording {i}"))
        return time.perf_counter() - start

    for i in range(WARM_UP):
        call(i)
    return call


def start_server(model: str, log_path: str):
    port = local_server.free_port()
    argv = [sys.executable, "-m", "pipeline.cli", "serve", "--model", model, "--port", str(port)]
    try:
        return local_server.start(argv, port, Path(log_path), timeout=300, cwd=_util.REPO_ROOT)
    except local_server.NotReady as err:
        raise SystemExit(f"{err}\n(whole log: {log_path})") from err


_connections = threading.local()


def request(url: str, body: bytes) -> float:
    """One V1 request on this thread's kept-alive connection (as a real client would hold one)."""
    if getattr(_connections, "url", None) != url:
        host, port = url.split("//")[1].split(":")
        _connections.url, _connections.conn = url, http.client.HTTPConnection(host, int(port), timeout=300)
    start = time.perf_counter()
    _connections.conn.request("POST", "/v1/models/audioclf:predict", body=body,
                              headers={"Content-Type": "application/json"})
    response = _connections.conn.getresponse()
    answer = json.loads(response.read())
    assert response.status == 200 and "predictions" in answer, answer
    return time.perf_counter() - start


def load(url: str, bodies, requests: int, clients: int):
    """(latencies, wall seconds) of `requests` requests spread over `clients` threads."""
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(lambda i: request(url, bodies[i % len(bodies)]), range(requests)))
    return latencies, time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    files = recordings(args.data_root, args.recordings)
    bodies = [json.dumps({"instances": [{"b64": base64.b64encode(f).decode()}]}).encode() for f in files]
    call_local = local_classifier(args.model, files)
    process, url = start_server(args.model, os.path.join(tempfile.mkdtemp(prefix="bench-serving-"), "server.log"))
    try:
        for i in range(WARM_UP):   # the first calls are slow (measured: ~500 ms, then 40-50 ms for ~10 calls)
            request(url, bodies[i % len(bodies)])
        # One client: in-process and server calls alternate, so both see the same load on the machine.
        local, served = [], []
        for i in range(args.requests):
            local.append(call_local(i))
            served.append(request(url, bodies[i % len(bodies)]))
        runs = {1: (served, sum(served))}
        runs.update({c: load(url, bodies, args.requests, c) for c in (int(x) for x in args.clients.split(","))
                     if c != 1})
    finally:
        local_server.stop(process)

    def p(values, q):
        return float(np.percentile(values, q)) * 1e3

    rows = [["in process (predict's path)", 1, f"{1 / statistics.mean(local):.1f}", f"{p(local, 50):.0f}",
             f"{p(local, 99):.0f}", "-"]]
    for clients, (latencies, wall) in runs.items():
        overhead = p(latencies, 50) / p(local, 50) - 1
        rows.append([f"`audioclf serve`, {clients} client{'s' if clients > 1 else ''}", clients,
                     f"{len(latencies) / wall:.1f}", f"{p(latencies, 50):.0f}", f"{p(latencies, 99):.0f}",
                     f"{overhead:+.0%}" + ("" if clients > 1 else (" (goal < +20 %)" if overhead < GOAL_OVERHEAD
                                                                  else " (**over the +20 % goal**)"))])
    lines = [f"# Model server against in-process predict: {SECONDS:g} s recordings", ""]
    lines += _util.QUICK_NOTE if args.quick else []
    lines += ["Machine:", ""] + _util.machine_lines([
        f"model: {args.model}; {len(files)} recordings of {SECONDS:g} s (FLAC, from {args.data_root}), "
        f"{args.requests} requests per row after {WARM_UP} untimed ones",
        f"load average (1/5/15 min) at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} on "
        f"{os.cpu_count()} cores (other work on the machine slows both sides alike)",
        "server: `audioclf serve` (kserve ModelServer, one uvicorn worker, its own .venv-serving); clients: threads "
        "of the benchmark process on the same machine, each on one kept-alive HTTP connection"]) + [""]
    lines += [_util.table(["", "clients", "requests/s", "p50 ms", "p99 ms", "p50 against in process"], rows), ""]
    lines += ["With several clients the p50 includes waiting for the others' requests (2 cores): that row's "
              "figure is throughput, not overhead.", ""]
    _util.write_report(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
