"""Load harness: storebridge beside nginx and a direct connection, on loopback only.

Started by bench/run, which installs nginx, wrk and gnuplot and builds the release binary.
This script writes the canned ShipStation bodies, starts a TLS upstream (nginx serving
static files), nginx as a TLS reverse proxy, and storebridge in translate and mirror mode,
runs wrk against each, and writes docs/benchmarks.md with SVG plots in docs/.

Every wrk run is bounded by --duration; every server started here is stopped at the end.
"""

import argparse
import datetime
import gzip
import json
import os
import pathlib
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

import webhook_ingress
from procstat import cpu_seconds, reset_peak_rss, status_kib

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DOCS = ROOT / "docs"
WORK = ROOT / "target" / "bench-harness"
BINARY = ROOT / "target" / "release" / "storebridge"

LEGACY = 12345
CONNECT = 7654321
ORDER_PATH = "/orders/94113592"
PAGE_PATH = "/orders?page=1&pageSize=500"

PORTS = {"upstream": 19443, "nginx": 19444, "translate": 19445, "mirror": 19446}
TARGETS = ["direct", "nginx", "translate", "mirror"]
SIZES = [("1k", 1 << 10), ("16k", 16 << 10), ("256k", 256 << 10), ("1m", 1 << 20),
         ("4m", 4 << 20), ("16m", 16 << 20)]
CONCURRENCY = [1, 4, 16, 64, 128, 256, 512]
IDLE_COUNTS = [0, 1000, 2500, 5000]
REWRITE_COUNTS = [1, 10, 25, 50, 100]


# ---------------------------------------------------------------- canned bodies


def make_order(template, index, mapped):
    """Returns the `index`th order of a page, with the connect store on every fourth."""
    order = json.loads(json.dumps(template))
    order["advancedOptions"]["storeId"] = mapped if index % 4 == 0 else 20000 + index
    order["orderId"] = 94113592 + index
    order["orderNumber"] = f"TEST-ORDER-API-{index:05}"
    order["customerEmail"] = f"customer{index}@example.com"
    order["amountPaid"] = round(100 + (index % 97) * 1.37, 2)
    order["billTo"]["name"] = f"Customer Number {index}"
    item = order["items"][0]
    for copy in range(index % 4):
        extra = dict(item, orderItemId=192210958 + index * 8 + copy, sku=f"SKU-{index}-{copy}")
        order["items"].append(extra)
    return order


def orders_page(template, count):
    orders = [make_order(template, index, CONNECT) for index in range(count)]
    page = {"orders": orders, "total": count, "page": 1, "pages": 1}
    return json.dumps(page, separators=(",", ":")).encode()


def page_of_size(template, size):
    """Returns a page of whole orders of about `size` bytes; below one order, a trimmed one."""
    single = len(orders_page(template, 1))
    if size < single:
        keys = ["advancedOptions", "orderId", "orderNumber", "orderStatus", "customerEmail",
                "amountPaid", "orderDate"]
        order = make_order(template, 0, CONNECT)
        trimmed = {key: order[key] for key in keys}
        trimmed["advancedOptions"] = {"storeId": CONNECT, "source": "Webstore"}
        return json.dumps({"orders": [trimmed] * max(1, size // 300), "total": 1, "page": 1,
                           "pages": 1}, separators=(",", ":")).encode()
    return orders_page(template, max(1, round(size / (single * 1.18))))


def write_bodies(www):
    template = json.loads((ROOT / "src/rewrite/testdata/order.json").read_text())
    data = www / "data"
    data.mkdir(parents=True, exist_ok=True)
    order = json.dumps(make_order(template, 0, CONNECT), separators=(",", ":")).encode()
    (data / "order.json").write_bytes(order)
    page = orders_page(template, 500)
    (data / "orders.json").write_bytes(page)
    (data / "orders.json.gz").write_bytes(gzip.compress(page, compresslevel=6))
    for name, size in SIZES:
        (data / f"size-{name}.json").write_bytes(page_of_size(template, size))
    return {"order": len(order), "page": len(page),
            "page_gzip": (data / "orders.json.gz").stat().st_size,
            **{f"size-{name}": (data / f"size-{name}.json").stat().st_size
               for name, _ in SIZES}}


# ---------------------------------------------------------------- servers


NGINX_COMMON = """
worker_rlimit_nofile 20000;
pid {work}/{name}.pid;
error_log {work}/{name}-error.log warn;
events {{ worker_connections 12000; }}
"""

UPSTREAM_CONF = NGINX_COMMON + """
worker_processes 1;
http {{
    access_log off;
    types {{ application/json json; }}
    default_type application/json;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certs}/server.crt;
        ssl_certificate_key {certs}/server.key;
        root {www};
        location = /orders {{ rewrite ^ /data/orders.json last; }}
        location = {order_path} {{ rewrite ^ /data/order.json last; }}
        # gzip_proxied: nginx would otherwise not compress for storebridge, whose requests
        # carry a Via header.
        location /data/ {{ gzip_static on; gzip_proxied any; }}
    }}
}}
"""

PROXY_CONF = NGINX_COMMON + """
worker_processes auto;
http {{
    access_log {work}/nginx-access.log;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_max_body_size 64m;
    upstream shipstation {{
        server 127.0.0.1:{upstream_port};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certs}/server.crt;
        ssl_certificate_key {certs}/server.key;
        location / {{
            proxy_pass https://shipstation;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_session_reuse on;
        }}
    }}
}}
"""

STOREBRIDGE_CONF = """
[[listener]]
bind = "127.0.0.1:{port}"
mode = "{mode}"
[listener.tls]
cert = "{certs}/server.crt"
key = "{certs}/server.key"

[upstream]
v1 = "https://127.0.0.1:{upstream_port}"
ca_file = "{certs}/ca.crt"

[[store]]
legacy = {legacy}
connect = {connect}
"""


def raise_fd_limit():
    """Raises the open-file limit to the hard limit; the servers and wrk inherit it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Servers:
    """Starts the upstream, nginx and both storebridge modes, and stops them on exit."""

    def __init__(self):
        self.processes = {}
        self.commands = {}

    def start(self):
        certs = WORK / "certs"
        subprocess.run([BINARY, "certs", "dev", "--out", certs], check=True,
                       stdout=subprocess.DEVNULL)
        fields = dict(work=WORK, certs=certs, www=WORK / "www", order_path=ORDER_PATH,
                      upstream_port=PORTS["upstream"], legacy=LEGACY, connect=CONNECT)
        for name, template in [("upstream", UPSTREAM_CONF), ("nginx", PROXY_CONF)]:
            conf = WORK / f"{name}.conf"
            conf.write_text(template.format(name=name, port=PORTS[name], **fields))
            self.commands[name] = ["nginx", "-c", conf, "-g", "daemon off;"]
        for mode in ["translate", "mirror"]:
            conf = WORK / f"storebridge-{mode}.toml"
            conf.write_text(STOREBRIDGE_CONF.format(mode=mode, port=PORTS[mode], **fields))
            self.commands[mode] = [BINARY, "--log-format", "json", "serve", "--config", conf]
        for name in self.commands:
            self.launch(name)
        time.sleep(1.5)
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited at start with status {process.returncode}; "
                                   f"see the logs in {WORK}")

    def launch(self, name):
        log = open(WORK / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(self.commands[name], stdout=log, stderr=log)

    def restart(self, names):
        """Restarts proxies so that a memory figure does not include earlier runs' heap."""
        for name in names:
            self.terminate(name)
            self.launch(name)
        time.sleep(1.5)

    def terminate(self, name):
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM if name in ("translate", "mirror")
                                else signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self):
        for name in self.processes:
            self.terminate(name)

    def pids(self, target):
        """Returns the process IDs that make up a proxy: nginx's master and its workers."""
        if target == "direct":
            return []
        root = self.processes[target].pid
        children = pathlib.Path(f"/proc/{root}/task/{root}/children").read_text().split()
        return [root] + [int(child) for child in children]


# ---------------------------------------------------------------- wrk


def port_of(target):
    return PORTS["upstream"] if target == "direct" else PORTS[target]


def wrk(servers, target, path, connections, duration, gzip_body=False, delay_ms=0):
    """Runs wrk once and returns its RESULT line with the proxy's CPU and peak RSS added."""
    pids = servers.pids(target)
    reset_peak_rss(pids)
    cpu_before = cpu_seconds(pids)
    env = dict(os.environ, BENCH_PATH=path, BENCH_GZIP="1" if gzip_body else "0",
               BENCH_DELAY_MS=str(delay_ms))
    command = ["wrk", "-t", str(min(2, connections)), "-c", str(connections),
               "-d", f"{duration}s", "--timeout", "10s", "-s", BENCH / "report.lua",
               f"https://127.0.0.1:{port_of(target)}"]
    output = subprocess.run(command, env=env, capture_output=True, text=True,
                            timeout=duration + 60).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["cpu_s"] = cpu_seconds(pids) - cpu_before if pids else None
    result["peak_rss_mib"] = status_kib(pids, "VmHWM") / 1024 if pids else None
    result["cpu_ms_per_request"] = (1000 * result["cpu_s"] / result["requests"]
                                    if pids and result["requests"] else None)
    return result


def median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------- scenarios


BODIES = [("order 2 KB", ORDER_PATH, False), ("page 1.5 MB", PAGE_PATH, False),
          ("page 1.5 MB gzip", PAGE_PATH, True)]


def main_table(servers, args, log):
    """Runs each body through each target, with the targets interleaved in every round."""
    rounds = []
    for round_index in range(args.repeats):
        row = {}
        for body, path, gzip_body in BODIES:
            for target in TARGETS:
                result = wrk(servers, target, path, args.connections, args.duration, gzip_body)
                row[(body, target)] = result
                log(f"round {round_index + 1} {body} {target}: {result['rps']:.0f} req/s "
                    f"p99 {result['p99_us'] / 1000:.2f} ms")
        rounds.append(row)
    return rounds


def half_load(servers, args, rounds, log):
    """Measures the 2 KB GET at half of mirror's peak rate, the same offered load for all."""
    peak = median([row[("order 2 KB", "mirror")]["rps"] for row in rounds])
    connections = args.connections
    delay_ms = max(1, round(connections * 1000 / (peak / 2)))
    results = []
    for round_index in range(args.repeats):
        row = {}
        for target in TARGETS:
            row[target] = wrk(servers, target, ORDER_PATH, connections, args.duration,
                              delay_ms=delay_ms)
            log(f"half load round {round_index + 1} {target}: {row[target]['rps']:.0f} req/s "
                f"p99 {row[target]['p99_us'] / 1000:.2f} ms")
        results.append(row)
    return {"peak": peak, "delay_ms": delay_ms, "rounds": results}


def growth_size(servers, args, log):
    curve = {}
    for name, _ in SIZES:
        connections = 8
        for target in TARGETS:
            result = wrk(servers, target, f"/data/size-{name}.json", connections,
                         args.growth_duration)
            curve[(name, target)] = result
            log(f"size {name} {target}: p50 {result['p50_us'] / 1000:.2f} ms "
                f"{result['rps']:.0f} req/s")
    return curve


def growth_concurrency(servers, args, log):
    curve = {}
    for connections in CONCURRENCY:
        for target in TARGETS:
            result = wrk(servers, target, ORDER_PATH, connections, args.growth_duration)
            curve[(connections, target)] = result
            log(f"concurrency {connections} {target}: {result['rps']:.0f} req/s")
    return curve


def growth_idle(servers, args, log):
    """Measures each proxy's resident memory while N keep-alive connections are idle."""
    curve = {}
    for target in ["nginx", "mirror"]:
        for count in IDLE_COUNTS:
            pids = servers.pids(target)
            if count == 0:
                curve[(count, target)] = (status_kib(pids, "VmRSS") / 1024, 0)
                continue
            client = subprocess.Popen(
                [sys.executable, BENCH / "idle_clients.py", "--port", str(PORTS[target]),
                 "--count", str(count), "--hold", "120"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            ready = client.stdout.readline().strip()
            time.sleep(2)
            rss = status_kib(pids, "VmRSS") / 1024
            client.stdin.close()
            closed = client.stdout.readline().strip()
            client.wait(timeout=120)
            closed_count = int(closed.split()[-1]) if closed else None
            curve[(count, target)] = (rss, closed_count)
            log(f"idle {count} {target}: {ready}, RSS {rss:.1f} MiB, {closed}")
            time.sleep(1)
    return curve


def growth_rewrites(servers, args, log):
    """Measures peak resident memory with N clients fetching the 1.5 MB page at once."""
    curve = {}
    for count in REWRITE_COUNTS:
        for target in ["nginx", "mirror"]:
            result = wrk(servers, target, PAGE_PATH, count, args.growth_duration)
            curve[(count, target)] = result
            log(f"concurrent pages {count} {target}: peak RSS {result['peak_rss_mib']:.1f} MiB "
                f"{result['rps']:.0f} req/s")
    return curve


# ---------------------------------------------------------------- report


def machine():
    cpu = next((line.split(":", 1)[1].strip()
                for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout
    total = memory.splitlines()[1].split()[1]
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": total,
            "kernel": platform.release(),
            "nginx": subprocess.run(["nginx", "-v"], capture_output=True,
                                    text=True).stderr.strip(),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True,
                                  text=True).stdout.splitlines()[0].split(" [")[0]}


def plot(name, title, xlabel, ylabel, series, logx=True, logy=False):
    """Writes docs/NAME.svg with gnuplot from {label: [(x, y), ...]}."""
    data_files = []
    for label, points in series.items():
        path = WORK / f"{name}-{label}.dat"
        path.write_text("".join(f"{x} {y}\n" for x, y in points if y is not None))
        data_files.append((label, path))
    lines = [
        "set terminal svg size 720,420 dynamic font 'sans,12'",
        f"set output '{DOCS / (name + '.svg')}'",
        f"set title '{title}'", f"set xlabel '{xlabel}'", f"set ylabel '{ylabel}'",
        "set key left top", "set grid",
    ]
    if logx:
        lines.append("set logscale x 2")
    if logy:
        lines.append("set logscale y 10")
    plots = ", ".join(f"'{path}' using 1:2 with linespoints title '{label}'"
                      for label, path in data_files)
    lines.append(f"plot {plots}")
    subprocess.run(["gnuplot"], input="\n".join(lines), text=True, check=True)


def fmt(value, digits=0):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def write_report(args, info, sizes, rounds, half, by_size, by_concurrency, idle, rewrites,
                 criterion, ingress, started, finished):
    out = []
    add = out.append
    add("# Benchmarks\n")
    add("Generated by `bench/run` (the command below); hand-written analysis comes from "
        "`bench/notes.md`. Every number here was measured in the run described, on the "
        "machine described. Re-running the command replaces this file and the plots.\n")
    add("## Run\n")
    add(f"- Command: `bench/run {' '.join(args.passed)}`".rstrip() + "")
    add(f"- Date: {started:%Y-%m-%d %H:%M} to {finished:%H:%M} UTC")
    add(f"- Machine: {info['cpu']}, {info['cores']} cores, {info['memory']} memory, "
        f"Linux {info['kernel']}; shared with other jobs, 1-minute load average "
        f"{args.load_before:.2f} at the start and {os.getloadavg()[0]:.2f} at the end")
    add(f"- Tools: {info['nginx']}, {info['wrk']}, storebridge release build")
    add(f"- Loads: wrk with {args.connections} connections and {args.duration} s per run for "
        f"the main tables, {args.repeats} rounds with the four targets interleaved in each; "
        f"medians over the rounds; ratios are taken within a round and their median shown. "
        f"Growth curves: one run of {args.growth_duration} s per point.")
    add(f"- Bodies: order {sizes['order']:,} bytes, page {sizes['page']:,} bytes "
        f"({sizes['page_gzip']:,} gzip), one order in four carries the mapped connect store "
        f"so mirror rewrites it.")
    add("- Targets: `direct` is wrk to the upstream; `nginx` is nginx as a TLS reverse proxy "
        "(`proxy_pass`, TLS both sides, upstream keep-alive); `translate` and `mirror` are "
        "storebridge listeners, each its own process. All on 127.0.0.1; the upstream is nginx "
        "(1 worker) serving the canned files over TLS. CPU seconds and peak RSS are the proxy "
        "process tree's (nginx: master and workers summed); peak RSS is reset before each run "
        "through `/proc/PID/clear_refs`.\n")

    add("## Body rewriter (criterion)\n")
    add("`cargo bench --bench rewrite`, medians of criterion's samples; 1 MB = 10^6 bytes.\n")
    add("| body | direction | storebridge MB/s | serde_json::Value MB/s | speed-up |")
    add("|---|---|---|---|---|")
    for (direction, body), (fast, naive) in sorted(criterion.items()):
        add(f"| {body} | {direction} | {fmt(fast)} | {fmt(naive)} | "
            f"{fmt(ratio(fast, naive), 1)}x |")
    add("")

    add("## Throughput and latency\n")
    add("| body | target | req/s | p50 ms | p99 ms | p99.9 ms | CPU s | CPU ms/req | peak RSS MiB | errors |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for body, _, _ in BODIES:
        for target in TARGETS:
            runs = [row[(body, target)] for row in rounds]
            errors = sum(run["socket_errors"] + run["non2xx"] for run in runs)
            add(f"| {body} | {target} | {fmt(median([r['rps'] for r in runs]))} | "
                f"{fmt(median([r['p50_us'] / 1000 for r in runs]), 2)} | "
                f"{fmt(median([r['p99_us'] / 1000 for r in runs]), 2)} | "
                f"{fmt(median([r['p999_us'] / 1000 for r in runs]), 2)} | "
                f"{fmt(median([r['cpu_s'] for r in runs]), 1)} | "
                f"{fmt(median([r['cpu_ms_per_request'] for r in runs]), 3)} | "
                f"{fmt(median([r['peak_rss_mib'] for r in runs]), 1)} | {errors} |")
    add("")
    add("### Ratios (median of per-round ratios of req/s)\n")
    add("| body | translate/nginx | mirror/nginx | mirror/direct | nginx/direct |")
    add("|---|---|---|---|---|")
    ratios = {}
    for body, _, _ in BODIES:
        cells = []
        for top, bottom in [("translate", "nginx"), ("mirror", "nginx"),
                            ("mirror", "direct"), ("nginx", "direct")]:
            value = median([ratio(row[(body, top)]["rps"], row[(body, bottom)]["rps"])
                            for row in rounds])
            ratios[(body, top, bottom)] = value
            cells.append(fmt(value, 2))
        add(f"| {body} | " + " | ".join(cells) + " |")
    add("")

    add("### 2 KB GET at half of mirror's peak\n")
    add(f"Every target offered the same load: {args.connections} connections, each pausing "
        f"{half['delay_ms']} ms between requests, aiming at half of mirror's median peak of "
        f"{fmt(half['peak'])} req/s.\n")
    add("| target | req/s | p50 ms | p99 ms | p99.9 ms | p99 added over direct ms |")
    add("|---|---|---|---|---|---|")
    added = {}
    for target in TARGETS:
        runs = [row[target] for row in half["rounds"]]
        added[target] = median([(row[target]["p99_us"] - row["direct"]["p99_us"]) / 1000
                                for row in half["rounds"]])
        add(f"| {target} | {fmt(median([r['rps'] for r in runs]))} | "
            f"{fmt(median([r['p50_us'] / 1000 for r in runs]), 2)} | "
            f"{fmt(median([r['p99_us'] / 1000 for r in runs]), 2)} | "
            f"{fmt(median([r['p999_us'] / 1000 for r in runs]), 2)} | "
            f"{fmt(added[target], 2)} |")
    add("")

    add("## Growth\n")
    add("![p50 latency versus body size](bench-latency-size.svg)\n")
    add("![Requests per second versus concurrency](bench-throughput-concurrency.svg)\n")
    add("![Resident memory versus idle connections](bench-memory-idle.svg)\n")
    add("![Peak resident memory versus concurrent 1.5 MB pages](bench-memory-rewrites.svg)\n")
    add("| body size | " + " | ".join(f"{t} p50 ms" for t in TARGETS) + " |")
    add("|---|" + "---|" * len(TARGETS))
    for name, _ in SIZES:
        add(f"| {sizes['size-' + name]:,} B | " + " | ".join(
            fmt(by_size[(name, t)]["p50_us"] / 1000, 2) for t in TARGETS) + " |")
    add("")
    add("| connections | " + " | ".join(f"{t} req/s" for t in TARGETS) + " |")
    add("|---|" + "---|" * len(TARGETS))
    for connections in CONCURRENCY:
        add(f"| {connections} | " + " | ".join(
            fmt(by_concurrency[(connections, t)]["rps"]) for t in TARGETS) + " |")
    add("")
    add("| idle connections | nginx RSS MiB | mirror RSS MiB | closed by server during hold (nginx, mirror) |")
    add("|---|---|---|---|")
    for count in IDLE_COUNTS:
        add(f"| {count} | {fmt(idle[(count, 'nginx')][0], 1)} | "
            f"{fmt(idle[(count, 'mirror')][0], 1)} | "
            f"{idle[(count, 'nginx')][1]}, {idle[(count, 'mirror')][1]} |")
    add("")
    add("| concurrent 1.5 MB pages | nginx peak RSS MiB | mirror peak RSS MiB | nginx req/s | mirror req/s |")
    add("|---|---|---|---|---|")
    for count in REWRITE_COUNTS:
        add(f"| {count} | {fmt(rewrites[(count, 'nginx')]['peak_rss_mib'], 1)} | "
            f"{fmt(rewrites[(count, 'mirror')]['peak_rss_mib'], 1)} | "
            f"{fmt(rewrites[(count, 'nginx')]['rps'])} | "
            f"{fmt(rewrites[(count, 'mirror')]['rps'])} |")
    add("")

    add("## Webhook ingress\n")
    out.extend(webhook_ingress.report_lines(ingress, args))
    add("")

    add("## Targets\n")
    page_rates = [fast for (direction, body), (fast, _) in criterion.items() if body == "page"]
    page_speedups = [ratio(fast, naive) for (direction, body), (fast, naive)
                     in criterion.items() if body == "page"]
    mirror_order = ratios[("order 2 KB", "mirror", "nginx")]
    mirror_page = ratios[("page 1.5 MB", "mirror", "nginx")]
    idle_rss = idle[(5000, "mirror")][0]
    rewrite_rss = rewrites[(100, "mirror")]["peak_rss_mib"]
    checks = [
        ("Rewriter at least 1 GB/s on the 1.5 MB page",
         f"{fmt(min(page_rates))} MB/s (slower direction)", min(page_rates) >= 1000),
        ("Rewriter at least 6 times the naive approach on the page",
         f"{fmt(min(page_speedups), 1)}x", min(page_speedups) >= 6),
        ("2 KB GET through mirror at least 1.0 times nginx req/s",
         f"{fmt(mirror_order, 2)}", mirror_order >= 1.0),
        ("2 KB GET p99 added over direct at most 1 ms at half load",
         f"{fmt(added['mirror'], 2)} ms", added["mirror"] <= 1.0),
        ("1.5 MB page through mirror at least 0.8 times nginx req/s",
         f"{fmt(mirror_page, 2)}", mirror_page >= 0.8),
        ("At most 64 MiB RSS with 5,000 idle connections",
         f"{fmt(idle_rss, 1)} MiB", idle_rss <= 64),
        ("At most 128 MiB peak RSS with 100 concurrent 1.5 MB rewrites",
         f"{fmt(rewrite_rss, 1)} MiB", rewrite_rss <= 128),
        webhook_ingress.target_check(ingress),
    ]
    add("| target | measured | met |")
    add("|---|---|---|")
    for name, measured, met in checks:
        if met is None:
            verdict = "not measured"
        elif met:
            verdict = "yes"
        else:
            verdict = "**no**"
        add(f"| {name} | {measured} | {verdict} |")
    add("")

    notes = BENCH / "notes.md"
    if notes.exists():
        add(notes.read_text())
    (DOCS / "benchmarks.md").write_text("\n".join(out) + "\n")


# ---------------------------------------------------------------- criterion


def run_criterion(log, run=True):
    """Runs the rewriter bench (unless `run` is false) and returns
    {(direction, body): (storebridge MB/s, naive MB/s)} from criterion's last results."""
    if run:
        subprocess.run(["cargo", "bench", "--bench", "rewrite", "--", "--warm-up-time", "1",
                        "--measurement-time", "3"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    base = ROOT / "target" / "criterion"
    for group in sorted(base.glob("*_*")):
        direction, body = group.name.split("_", 1)
        if direction not in ("inbound", "mirror"):
            continue
        rates = {}
        for implementation in ["storebridge", "serde_json_value"]:
            # The newest folder is the current body size; older ones may linger.
            run_dir = max((group / implementation).iterdir(), key=lambda d: d.stat().st_mtime)
            estimates = json.loads((run_dir / "new" / "estimates.json").read_text())
            benchmark = json.loads((run_dir / "new" / "benchmark.json").read_text())
            size = benchmark["throughput"]["Bytes"]
            rates[implementation] = size / (estimates["median"]["point_estimate"] / 1e9) / 1e6
        results[(direction, body)] = (rates["storebridge"], rates["serde_json_value"])
        log(f"criterion {direction}/{body}: {rates['storebridge']:.0f} MB/s, "
            f"naive {rates['serde_json_value']:.0f} MB/s")
    return results


# ---------------------------------------------------------------- main


def run_ingress_only(args, log):
    """Runs the webhook ingress step alone and prints its report section."""
    ingress_work = WORK / "ingress"
    if ingress_work.exists():
        shutil.rmtree(ingress_work)
    WORK.mkdir(parents=True, exist_ok=True)
    raise_fd_limit()
    ingress = webhook_ingress.measure(args, log)
    print("\n".join(webhook_ingress.report_lines(ingress, args)))
    name, measured, met = webhook_ingress.target_check(ingress)
    print(f"\n{name}: {measured}: {'met' if met else 'NOT MET'}")
    log(f"raw results in {ingress_work / 'results.json'}")


def run_memory_only(args, log):
    """Runs the two memory steps alone (idle connections, concurrent large rewrites) and
    prints what they measured."""
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    raise_fd_limit()
    write_bodies(WORK / "www")
    servers = Servers()
    try:
        servers.start()
        rewrites = growth_rewrites(servers, args, log)
        servers.restart(["nginx", "mirror"])
        idle = growth_idle(servers, args, log)
    finally:
        servers.stop()
    for (count, target), result in sorted(rewrites.items()):
        print(f"concurrent pages {count} {target}: peak RSS {result['peak_rss_mib']:.1f} MiB")
    for (count, target), (rss, closed) in sorted(idle.items()):
        print(f"idle {count} {target}: RSS {rss:.1f} MiB, closed by server {closed}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per main run")
    parser.add_argument("--growth-duration", type=int, default=4,
                        help="seconds per growth-curve point")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the main table")
    parser.add_argument("--connections", type=int, default=64,
                        help="wrk connections for the main table")
    parser.add_argument("--skip-criterion", action="store_true",
                        help="reuse the last criterion results in target/criterion")
    parser.add_argument("--only", choices=["ingress", "memory"],
                        help="run only this step and print its results; docs/benchmarks.md "
                             "is left unchanged")
    args = parser.parse_args()
    args.passed = sys.argv[1:]
    args.load_before = os.getloadavg()[0]
    started = datetime.datetime.now(datetime.timezone.utc)

    def log(message):
        print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)

    if args.only == "ingress":
        run_ingress_only(args, log)
        return
    if args.only == "memory":
        run_memory_only(args, log)
        return

    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    raise_fd_limit()
    sizes = write_bodies(WORK / "www")
    log(f"bodies: {sizes}")

    info = machine()
    if args.skip_criterion:
        criterion = run_criterion(log, run=False)
    else:
        log("criterion bench (about two minutes)")
        criterion = run_criterion(log)

    servers = Servers()
    try:
        servers.start()
        rounds = main_table(servers, args, log)
        half = half_load(servers, args, rounds, log)
        by_size = growth_size(servers, args, log)
        by_concurrency = growth_concurrency(servers, args, log)
        servers.restart(["nginx", "mirror"])
        rewrites = growth_rewrites(servers, args, log)
        servers.restart(["nginx", "mirror"])
        idle = growth_idle(servers, args, log)
    finally:
        servers.stop()
    # A failed ingress step is reported as such, keeping the other results of the run.
    try:
        ingress = webhook_ingress.measure(args, log)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        log(f"ingress step failed: {error}")
        ingress = {"error": str(error)}
    finished = datetime.datetime.now(datetime.timezone.utc)

    DOCS.mkdir(exist_ok=True)
    plot("bench-latency-size", "p50 latency versus body size (8 connections)",
         "body bytes", "p50 ms",
         {t: [(sizes["size-" + n], by_size[(n, t)]["p50_us"] / 1000) for n, _ in SIZES]
          for t in TARGETS}, logy=True)
    plot("bench-throughput-concurrency", "2 KB GET: requests per second versus connections",
         "connections", "req/s",
         {t: [(c, by_concurrency[(c, t)]["rps"]) for c in CONCURRENCY] for t in TARGETS})
    plot("bench-memory-idle", "Resident memory versus idle keep-alive connections",
         "connections", "RSS MiB",
         {t: [(c, idle[(c, t)][0]) for c in IDLE_COUNTS] for t in ["nginx", "mirror"]},
         logx=False)
    plot("bench-memory-rewrites", "Peak resident memory versus concurrent 1.5 MB pages",
         "concurrent requests", "peak RSS MiB",
         {t: [(c, rewrites[(c, t)]["peak_rss_mib"]) for c in REWRITE_COUNTS]
          for t in ["nginx", "mirror"]}, logx=False)
    write_report(args, info, sizes, rounds, half, by_size, by_concurrency, idle, rewrites,
                 criterion, ingress, started, finished)
    (WORK / "results.json").write_text(json.dumps({
        "rounds": [{f"{b}|{t}": v for (b, t), v in row.items()} for row in rounds],
        "half": {**half, "rounds": half["rounds"]},
        "by_size": {f"{n}|{t}": v for (n, t), v in by_size.items()},
        "by_concurrency": {f"{c}|{t}": v for (c, t), v in by_concurrency.items()},
        "idle": {f"{c}|{t}": v for (c, t), v in idle.items()},
        "rewrites": {f"{c}|{t}": v for (c, t), v in rewrites.items()},
        "ingress": ingress,
    }, indent=1))
    log(f"wrote {DOCS / 'benchmarks.md'} and the plots; raw results in {WORK / 'results.json'}")


if __name__ == "__main__":
    main()
