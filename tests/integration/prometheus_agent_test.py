#!/usr/bin/env python3
"""The agent with a real Prometheus server (ctest: prometheus_agent, label integration).

Starts three real things on 127.0.0.1, each on a free port:
  - a test model server (a test double of a vLLM replica, in a thread of this script): GET /metrics
    exposes vLLM's latency histograms, token/request counters and queue gauges, advancing with time;
    GET/PUT /v1/knobs serves the knob endpoint of docs/http_knob.md;
  - Debian's `prometheus`, scraping the model server and the agent every second;
  - `joulepilot agent --world node` on a copy of the two-socket fixture tree, its [prom] section pointing
    at that Prometheus with the vLLM preset.
and checks that Prometheus scrapes both, that it stores the agent's metrics, that the agent's service.*
signals carry the model server's numbers as Prometheus computes them (and come back through the agent's
/metrics into Prometheus), and that `promtool check metrics` accepts the agent's /metrics.

Every process is stopped at the end, also when a check fails; the agent must exit 0 on SIGTERM.
Exit 77 (ctest SKIP_RETURN_CODE) when prometheus is not installed.

Usage: prometheus_agent_test.py JOULEPILOT_BINARY FIXTURES_DIR
"""

import http.server
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

SKIP = 77
DEADLINE_S = 45.0  # the whole run stays well under ctest's 120 s, even on a loaded 2-core machine

# --- the test model server (a test double of a vLLM replica) ---------------------------------------------

# Histograms: bucket upper bounds and cumulative weights. Every bucket grows as weight * n(t) with the same
# n(t), so each bucket's rate is its weight times one common factor and histogram_quantile() of the rates is
# exactly the quantile of these weights, whatever Prometheus's rate window and extrapolation do.
HISTOGRAMS = {
    "vllm:time_to_first_token_seconds": ([0.05, 0.1, 0.25, 0.5, 1.0, math.inf], [50, 80, 95, 98, 100, 100]),
    "vllm:time_per_output_token_seconds": ([0.01, 0.02, 0.04, 0.06, 0.08, 0.1, math.inf],
                                           [100, 400, 800, 950, 985, 1000, 1000]),
    "vllm:e2e_request_latency_seconds": ([1.0, 2.0, 5.0, 10.0, 20.0, math.inf], [20, 60, 90, 97, 100, 100]),
}
# Counters growing linearly (per second), and constant gauges.
COUNTER_RATES = {
    "vllm:request_success_total": 10.0,
    "vllm:generation_tokens_total": 500.0,
    "vllm:prompt_tokens_total": 2000.0,
}
GAUGES = {"vllm:num_requests_running": 7.0, "vllm:num_requests_waiting": 2.0}
BASE_UNITS = 1000.0      # n(0): the counters do not start at zero (a long-running server)
UNITS_PER_SECOND = 5.0   # dn/dt
LABELS = 'model_name="test-model"'


def histogram_quantile(q, bounds, cumulative):
    """Prometheus's histogram_quantile() on cumulative bucket counts (linear interpolation in a bucket)."""
    total = cumulative[-1]
    rank = q * total
    for i, count in enumerate(cumulative):
        if count >= rank:
            if math.isinf(bounds[i]):
                return bounds[i - 1]
            start = bounds[i - 1] if i > 0 else 0.0
            before = cumulative[i - 1] if i > 0 else 0.0
            return start + (bounds[i] - start) * (rank - before) / (count - before)
    raise AssertionError("no bucket")


def format_le(bound):
    return "+Inf" if math.isinf(bound) else repr(bound)


class ModelServer:
    """Test double of a model server: vLLM-style /metrics and the knob endpoint of docs/http_knob.md."""

    def __init__(self):
        self.started = time.time()
        self.lock = threading.Lock()
        self.knobs = {
            "replica.0.batch_cap": {"value": 256, "min": 8, "max": 512, "step": 8},
            "replica.0.precision": {"value": 0, "values": [0, 1]},
        }
        self.scrapes = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: Prometheus scrapes every second
                pass

            def send(self, status, body, content_type="application/json"):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/metrics":
                    with server.lock:
                        server.scrapes += 1
                    self.send(200, server.exposition(time.time()), "text/plain; version=0.0.4; charset=utf-8")
                elif self.path == "/v1/knobs":
                    self.send(200, json.dumps({"knobs": server.knob_list()}))
                else:
                    self.send(404, json.dumps({"error": f"no route {self.path}"}))

            def do_PUT(self):
                if self.path != "/v1/knobs":
                    self.send(404, json.dumps({"error": f"no route {self.path}"}))
                    return
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                except ValueError as e:
                    self.send(400, json.dumps({"error": f"body is not JSON: {e}"}))
                    return
                status, answer = server.put_knobs(body)
                self.send(status, json.dumps(answer))

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def exposition(self, now):
        n = BASE_UNITS + UNITS_PER_SECOND * (now - self.started)
        lines = []
        for name, (bounds, weights) in HISTOGRAMS.items():
            lines.append(f"# HELP {name} test histogram")
            lines.append(f"# TYPE {name} histogram")
            for bound, weight in zip(bounds, weights):
                lines.append(f'{name}_bucket{{{LABELS},le="{format_le(bound)}"}} {weight * n!r}')
            lines.append(f"{name}_sum{{{LABELS}}} {bounds[0] * weights[-1] * n!r}")
            lines.append(f"{name}_count{{{LABELS}}} {weights[-1] * n!r}")
        for name, rate in COUNTER_RATES.items():
            lines.append(f"# HELP {name} test counter")
            lines.append(f"# TYPE {name} counter")
            lines.append(f"{name}{{{LABELS}}} {rate * n / UNITS_PER_SECOND!r}")
        for name, value in GAUGES.items():
            lines.append(f"# HELP {name} test gauge")
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name}{{{LABELS}}} {value!r}")
        return "\n".join(lines) + "\n"

    def knob_list(self):
        with self.lock:
            return [dict({"name": name}, **spec) for name, spec in self.knobs.items()]

    def put_knobs(self, body):
        """All or nothing, as docs/http_knob.md says."""
        if not isinstance(body, dict) or not body:
            return 400, {"error": "body must be a JSON object of knob name -> value"}
        with self.lock:
            for name, value in body.items():
                spec = self.knobs.get(name)
                if spec is None:
                    return 422, {"error": f"knob '{name}': unknown"}
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    return 400, {"error": f"knob '{name}': value must be a number"}
                inside = value in spec["values"] if "values" in spec else spec["min"] <= value <= spec["max"]
                if not inside:
                    return 422, {"error": f"knob '{name}': value {value} is outside its domain"}
            for name, value in body.items():
                self.knobs[name]["value"] = value
            return 200, {"applied": {name: self.knobs[name]["value"] for name in body}}

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --- helpers ---------------------------------------------------------------------------------------------

class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=3.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def http_json(url, method="GET", body=None, timeout=3.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_for(what, probe, deadline, interval=0.25):
    """Calls probe() until it returns a truthy value; on timeout fails with the last value or error seen."""
    last = None
    while time.time() < deadline:
        try:
            last = probe()
            if last:
                return last
        except (OSError, ValueError, KeyError, urllib.error.URLError) as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(interval)
    raise Failure(f"timed out waiting for {what}; last seen: {last}")


def close(value, expected, rel):
    return value is not None and abs(value - expected) <= rel * abs(expected)


class Agent:
    """`joulepilot agent` in the background; its stderr is collected by a thread (so the pipe never fills)."""

    def __init__(self, args, cwd):
        self.proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.port_seen = threading.Event()
        self.port = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self.port_seen.set()
        self.port_seen.set()  # EOF: the agent exited

    def stderr(self):
        return "".join(self.lines[-40:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "killed (no exit 20 s after SIGTERM)"
        self.reader.join(timeout=5)
        return self.proc.returncode


def signals_by_name(observations):
    return {s["name"]: s for s in observations["signals"]}


# --- the test --------------------------------------------------------------------------------------------

def main():
    if len(sys.argv) != 3:
        print("usage: prometheus_agent_test.py JOULEPILOT_BINARY FIXTURES_DIR", file=sys.stderr)
        return 2
    binary, fixtures = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not os.access(binary, os.X_OK):
        print(f"FAIL: {binary} is not an executable joulepilot binary (build the joulepilot target)", file=sys.stderr)
        return 1
    prometheus_bin = shutil.which("prometheus")
    if prometheus_bin is None:
        print("SKIPPED: prometheus is not installed (Debian package prometheus; `make deps` installs it)")
        return SKIP
    promtool = shutil.which("promtool")

    start = time.time()
    deadline = start + DEADLINE_S
    work = tempfile.mkdtemp(prefix="jp-prom-agent-")
    model = agent = prometheus = None
    prom_log = os.path.join(work, "prometheus.log")
    failures = []
    try:
        model = ModelServer()
        prom_port = free_port()
        prom_url = f"http://127.0.0.1:{prom_port}"

        # The knob endpoint answers as docs/http_knob.md says (the agent has no [act.http_knob] wiring yet,
        # so only this script talks to it).
        status, body = http_json(f"http://127.0.0.1:{model.port}/v1/knobs")
        check(status == 200 and {k["name"] for k in body["knobs"]} == {"replica.0.batch_cap", "replica.0.precision"},
              f"GET /v1/knobs: {status} {body}")
        status, body = http_json(f"http://127.0.0.1:{model.port}/v1/knobs", "PUT",
                                 {"replica.0.batch_cap": 128, "replica.0.precision": 2})
        check(status == 422, f"PUT with an out-of-domain value must be 422: {status} {body}")
        check(model.knobs["replica.0.batch_cap"]["value"] == 256, "a refused PUT must change nothing")

        # The agent: node world on a copy of the fixture tree, service metrics from Prometheus (which is not
        # up yet: the signals must fill in when it comes up, docs/prometheus.md).
        root = os.path.join(work, "root")
        shutil.copytree(os.path.join(fixtures, "act", "node-2s"), root, symlinks=True)
        state = os.path.join(work, "state")
        os.mkdir(state)
        config = os.path.join(work, "agent.toml")
        with open(config, "w") as f:
            f.write(f'''[agent]
state_dir = "{state}"
sense_interval_s = 0.5
decide_interval_s = 2
[act.nvml]
enable = false
[prom]
url = "{prom_url}"
timeout_s = 1.0
connect_timeout_s = 0.5
preset = "vllm"
# Short rate windows so the rates are exact after a few 1-second scrapes (the preset's [1m] needs a minute).
[prom.signals."service.output_tokens_per_second"]
query = "sum(rate(vllm:generation_tokens_total[5s]))"
[prom.signals."service.request_rate_rps"]
query = "sum(rate(vllm:request_success_total[5s]))"
''')
        agent = Agent([binary, "agent", "--world", "node", "--root", root, "--listen", "127.0.0.1:0", "--no-ledger",
                       "--config", config], cwd=work)
        agent.port_seen.wait(timeout=max(1.0, deadline - time.time()))
        check(agent.port is not None, f"the agent did not say where it listens:\n{agent.stderr()}")
        jp = f"http://127.0.0.1:{agent.port}"

        # Prometheus scraping both every second.
        prom_config = os.path.join(work, "prometheus.yml")
        with open(prom_config, "w") as f:
            f.write(f'''global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: model
    static_configs:
      - targets: ["127.0.0.1:{model.port}"]
  - job_name: joulepilot
    static_configs:
      - targets: ["127.0.0.1:{agent.port}"]
''')
        with open(prom_log, "w") as log:
            prometheus = subprocess.Popen(
                [prometheus_bin, f"--config.file={prom_config}", f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                cwd=work, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

        def prometheus_alive():
            if prometheus.poll() is not None:
                raise Failure(f"prometheus exited with {prometheus.returncode}:\n{open(prom_log).read()[-3000:]}")

        def ready():
            prometheus_alive()
            return http_get(f"{prom_url}/-/ready")[0] == 200
        wait_for("Prometheus to be ready", ready, deadline)

        # 1. Both targets up.
        def targets_up():
            prometheus_alive()
            _, body = http_json(f"{prom_url}/api/v1/targets?state=active")
            health = {t["labels"]["job"]: (t["health"], t.get("lastError", "")) for t in body["data"]["activeTargets"]}
            both = health.get("model", ("",))[0] == "up" and health.get("joulepilot", ("",))[0] == "up"
            return health if both else None
        try:
            wait_for("both scrape targets up", targets_up, deadline)
        except Failure:
            _, body = http_json(f"{prom_url}/api/v1/targets")
            raise Failure(f"targets not both up: {json.dumps(body['data']['activeTargets'])[:2000]}")

        def prom_query(expr):
            _, body = http_json(f"{prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            check(body["status"] == "success", f"query {expr!r}: {body}")
            return body["data"]["result"]

        # 2. Prometheus stores the agent's metrics.
        def agent_ticks():
            result = prom_query('joulepilot_ticks_total{job="joulepilot"}')
            return float(result[0]["value"][1]) if result and float(result[0]["value"][1]) > 0 else None
        ticks = wait_for("joulepilot_ticks_total in Prometheus", agent_ticks, deadline)
        up = prom_query('up{job="joulepilot"}')
        check(len(up) == 1 and up[0]["value"][1] == "1", f'up{{job="joulepilot"}}: {up}')
        package_power = prom_query("joulepilot_cpu_package_power_watts")
        print(f"ok: Prometheus scrapes the model server and the agent; joulepilot_ticks_total = {ticks:g}, "
              f"joulepilot_cpu_package_power_watts series: {len(package_power)}")

        # 3. The agent's service.* signals are the model server's numbers, as Prometheus computes them.
        expected = {
            "service.ttft_p99_seconds": (histogram_quantile(0.99, *HISTOGRAMS["vllm:time_to_first_token_seconds"]), 1e-6),
            "service.tpot_p99_seconds": (histogram_quantile(0.99, *HISTOGRAMS["vllm:time_per_output_token_seconds"]), 1e-6),
            "service.e2e_latency_p99_seconds": (histogram_quantile(0.99, *HISTOGRAMS["vllm:e2e_request_latency_seconds"]), 1e-6),
            "service.running_requests": (GAUGES["vllm:num_requests_running"], 0.0),
            "service.waiting_requests": (GAUGES["vllm:num_requests_waiting"], 0.0),
            # Rates of counters linear in time: exact up to scrape-timestamp jitter.
            "service.output_tokens_per_second": (COUNTER_RATES["vllm:generation_tokens_total"], 0.10),
            "service.request_rate_rps": (COUNTER_RATES["vllm:request_success_total"], 0.10),
        }
        latest = {}

        def agent_signals_match():
            _, body = http_json(f"{jp}/v1/observations")
            signals = signals_by_name(body)
            latest.clear()
            latest.update({name: signals.get(name, {}).get("value") for name in expected})
            return all(close(latest[name], value, rel) for name, (value, rel) in expected.items())
        try:
            wait_for("the agent's service.* signals to match the model server", agent_signals_match, deadline)
        except Failure as e:
            raise Failure(f"{e}\nexpected: { {k: v[0] for k, v in expected.items()} }\nagent stderr:\n{agent.stderr()}")
        _, observations = http_json(f"{jp}/v1/observations")
        for name in expected:
            s = signals_by_name(observations)[name]
            check(s["missing"] is False, f"{name}: {s}")
        print("ok: agent signals from Prometheus: " + ", ".join(f"{k}={v:g}" for k, v in latest.items()))

        # ... and the agent's own gauge of it comes back through its /metrics into Prometheus.
        ttft = expected["service.ttft_p99_seconds"][0]

        def roundtrip():
            result = prom_query('joulepilot_ttft_p99_seconds{job="joulepilot"}')
            return result and close(float(result[0]["value"][1]), ttft, 1e-6)
        wait_for(f"joulepilot_ttft_p99_seconds = {ttft:g} in Prometheus", roundtrip, deadline)
        print(f"ok: joulepilot_ttft_p99_seconds = {ttft:g} in Prometheus (model server -> Prometheus -> agent -> Prometheus)")

        _, status_body = http_json(f"{jp}/v1/status")
        check(status_body["world"] == "node", f"/v1/status world: {status_body.get('world')}")

        # 4. promtool accepts the agent's exposition.
        _, exposition = http_get(f"{jp}/metrics")
        check("joulepilot_ticks_total" in exposition, "the agent's /metrics lacks joulepilot_ticks_total")
        if promtool:
            r = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, text=True,
                               timeout=30)
            check(r.returncode == 0, f"promtool check metrics failed ({r.returncode}):\n{r.stdout}{r.stderr}")
            print("ok: promtool check metrics accepts the agent's /metrics")
        else:
            print("skipped: promtool check metrics (promtool is not installed)")
    except Failure as e:
        failures.append(str(e))
    except Exception as e:  # an unexpected error is a failure too, with the processes still cleaned up
        failures.append(f"{type(e).__name__}: {e}")
    finally:
        if agent is not None:
            code = agent.stop()
            if isinstance(code, int) and code < 0:
                failures.append(f"the agent was killed by signal {-code} instead of exiting 0 on SIGTERM (is SIGTERM "
                                f"blocked in every thread of the agent?):\n{agent.stderr()}")
            elif code != 0:
                failures.append(f"the agent exited with {code} on SIGTERM, not 0:\n{agent.stderr()}")
        if prometheus is not None and prometheus.poll() is None:
            prometheus.terminate()
            try:
                prometheus.wait(timeout=10)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait()
        if model is not None:
            model.stop()
        prom_tail = open(prom_log).read()[-2000:] if failures and os.path.exists(prom_log) else ""
        shutil.rmtree(work, ignore_errors=True)

    elapsed = time.time() - start
    if failures:
        for f in failures:
            print(f"FAIL: {f}", file=sys.stderr)
        if prom_tail:
            print(f"(prometheus log, tail:)\n{prom_tail}", file=sys.stderr)
        print(f"prometheus_agent: FAILED after {elapsed:.1f} s", file=sys.stderr)
        return 1
    print(f"prometheus_agent: passed in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
