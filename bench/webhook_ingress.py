"""Webhook ingress step of bench/harness.py: events per second accepted with durable commits.

A TLS receiver (nginx returning 204 on /hook) plays the subscriber. Each round starts
a fresh storebridge with the relay on and its database under target/bench-harness/ingress,
stores one subscription straight in the database (the row `POST /webhooks/subscribe` would
store, so no ShipStation is needed), and runs wrk with bench/ingress.lua against
`POST /hooks/{token}`. The script stops sending after the load window and wrk exits a few
seconds later, so no request is in flight at the end. storebridge is then stopped, and its
database must hold exactly as many events as wrk read 2xx responses.
"""

import hashlib
import json
import os
import pathlib
import secrets
import signal
import sqlite3
import statistics
import subprocess
import time

from procstat import cpu_seconds, status_kib

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = ROOT / "target" / "bench-harness"
BINARY = ROOT / "target" / "release" / "storebridge"

PORTS = {"ingress": 19447, "receiver": 19448, "listener": 19449}

# Seconds wrk runs past the load window, for the responses still in flight to arrive.
SETTLE_SECONDS = 3

TARGET_EVENTS_PER_SECOND = 2000

RECEIVER_CONF = """
worker_processes 1;
pid {work}/receiver.pid;
error_log {work}/receiver-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certs}/server.crt;
        ssl_certificate_key {certs}/server.key;
        location = /hook {{ return 204; }}
    }}
}}
"""

# The listener is required by the config but receives nothing in this step.
STOREBRIDGE_CONF = """
[[listener]]
bind = "127.0.0.1:{listener_port}"
mode = "mirror"
[listener.tls]
cert = "{certs}/server.crt"
key = "{certs}/server.key"

[upstream]
v1 = "https://127.0.0.1:{listener_port}"
ca_file = "{certs}/ca.crt"

[[store]]
legacy = 12345
connect = 7654321

[relay]
enabled = true
public_url = "https://127.0.0.1:{ingress_port}"
ca_file = "{certs}/ca.crt"
# The receiver is on loopback.
dangerous_allow_private_targets = true
[relay.ingress]
bind = "127.0.0.1:{ingress_port}"
[relay.ingress.tls]
cert = "{certs}/server.crt"
key = "{certs}/server.key"

[storage]
data_dir = "{data_dir}"
"""


def start_receiver(work, certs):
    conf = work / "receiver.conf"
    conf.write_text(RECEIVER_CONF.format(work=work, certs=certs, port=PORTS["receiver"]))
    log = open(work / "receiver.log", "ab")
    return subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"], stdout=log, stderr=log)


def start_storebridge(work, certs, data_dir, round_index):
    """Starts storebridge and returns it with its log path once its ingress listens."""
    conf = work / f"storebridge-{round_index}.toml"
    conf.write_text(STOREBRIDGE_CONF.format(certs=certs, data_dir=data_dir,
                                            listener_port=PORTS["listener"],
                                            ingress_port=PORTS["ingress"]))
    log_path = work / f"storebridge-{round_index}.log"
    log = open(log_path, "ab")
    process = subprocess.Popen([BINARY, "--log-format", "json", "serve", "--config", conf],
                               stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while "relay ingress listening" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"storebridge did not start its relay ingress; see {log_path}")
        time.sleep(0.1)
    return process, log_path


def stop(process):
    """Stops with SIGTERM, which drains the ingress and commits what it acknowledged."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def add_subscription(database):
    """Stores an active subscription to the receiver and returns its ingress token."""
    token = secrets.token_urlsafe(32)
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    target = f"https://127.0.0.1:{PORTS['receiver']}/hook"
    with sqlite3.connect(database, timeout=10) as connection:
        connection.execute(
            "INSERT INTO relay_subscriptions (token_hash, upstream_id, target_url, event, "
            "store_id, upstream_store_id, mode, state, created_at) "
            "VALUES (?, 1, ?, 'ORDER_NOTIFY', 12345, 7654321, 'mirror', 'active', 0)",
            (token_hash, target))
    return token


def count_events(database):
    """Returns (stored, delivered) event counts."""
    with sqlite3.connect(database, timeout=10) as connection:
        return connection.execute(
            "SELECT COUNT(*), COALESCE(SUM(status = 'delivered'), 0) FROM relay_events"
        ).fetchone()


def count_locked(log_path):
    """Returns how many log lines report SQLite's "database is locked" (SQLITE_BUSY)."""
    with open(log_path, errors="replace") as log:
        return sum("database is locked" in line for line in log)


def run_round(work, certs, args, round_index):
    data_dir = work / f"data-{round_index}"
    process, log_path = start_storebridge(work, certs, data_dir, round_index)
    try:
        token = add_subscription(data_dir / "storebridge.db")
        cpu_before = cpu_seconds([process.pid])
        command = ["wrk", "-t", "2", "-c", str(args.connections),
                   "-d", f"{args.duration + SETTLE_SECONDS}s", "--timeout", "10s",
                   "-s", BENCH / "ingress.lua", f"https://127.0.0.1:{PORTS['ingress']}"]
        env = dict(os.environ, BENCH_PATH=f"/hooks/{token}",
                   BENCH_LOAD_SECONDS=str(args.duration))
        output = subprocess.run(command, env=env, capture_output=True, text=True,
                                timeout=args.duration + SETTLE_SECONDS + 60).stdout
        cpu = cpu_seconds([process.pid]) - cpu_before
        peak_rss_mib = status_kib([process.pid], "VmHWM") / 1024
    finally:
        stop(process)
    line = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no RESULT line: {output}")
    result = json.loads(line[len("RESULT "):])
    stored, delivered = count_events(data_dir / "storebridge.db")
    result.update(stored=stored, delivered=delivered, locked=count_locked(log_path), cpu_s=cpu,
                  peak_rss_mib=peak_rss_mib, log=str(log_path))
    result["events_per_s"] = result["accepted"] / (result["window_us"] / 1e6)
    result["cpu_ms_per_event"] = 1000 * cpu / result["accepted"] if result["accepted"] else None
    return result


def mismatch(result):
    """Returns a failure message when the stored events differ from wrk's 2xx, else None."""
    stored, accepted = result["stored"], result["accepted"]
    if stored < accepted:
        return (f"FAILED: {accepted - stored} acknowledged event(s) are missing from the "
                f"database ({accepted} 2xx, {stored} stored)")
    if stored > accepted:
        return (f"FAILED: {stored - accepted} stored event(s) got no 2xx that wrk read "
                f"({accepted} 2xx, {stored} stored, {result['socket_errors']} socket errors); "
                f"not a loss, but the counts must match for this check")
    return None


def measure(args, log):
    """Runs `args.repeats` rounds and returns their results with the median events/s."""
    work = WORK / "ingress"
    certs = WORK / "certs"
    work.mkdir(parents=True, exist_ok=True)
    # The full run made them already, and `certs dev` rejects existing files.
    if not (certs / "ca.crt").exists():
        subprocess.run([BINARY, "certs", "dev", "--out", certs], check=True,
                       stdout=subprocess.DEVNULL)
    receiver = start_receiver(work, certs)
    rounds = []
    try:
        for round_index in range(args.repeats):
            result = run_round(work, certs, args, round_index)
            rounds.append(result)
            log(f"ingress round {round_index + 1}: {result['events_per_s']:.0f} events/s, "
                f"{result['accepted']} 2xx, {result['stored']} stored, "
                f"{result['delivered']} delivered, {result['locked']} locked errors, "
                f"{result['rejected']} other, {result['socket_errors']} socket errors, "
                f"p99 {result['p99_us'] / 1000:.1f} ms")
            failure = mismatch(result)
            if failure:
                log(f"ingress round {round_index + 1}: {failure}")
    finally:
        receiver.send_signal(signal.SIGQUIT)
        receiver.wait(timeout=10)
    median = statistics.median(result["events_per_s"] for result in rounds)
    all_match = all(mismatch(result) is None for result in rounds)
    (work / "results.json").write_text(json.dumps(rounds, indent=1))
    return {"rounds": rounds, "median_events_per_s": median, "all_match": all_match}


def report_lines(ingress, args):
    """Returns the Markdown of the report's ingress section."""
    if "error" in ingress:
        return [f"Not measured: the step failed: {ingress['error']}"]
    out = [
        f"`POST /hooks/{{token}}` with a V1 webhook body (`bench/ingress.lua`), "
        f"{args.connections} connections, {args.duration} s of load per round, "
        f"{args.repeats} rounds, each against a fresh storebridge and database. Events/s is "
        f"the 2xx count over the time from the first request to the last 2xx. SQLite runs "
        f"in WAL mode with `synchronous = FULL`, so every commit syncs the WAL before the "
        f"200. Stored is counted in the database after storebridge stopped. Delivered is how "
        f"many of those the delivery worker had delivered to the local receiver by then.\n",
        "| round | events/s | 2xx | stored | delivered | non-2xx | socket errors | p50 ms | "
        "p99 ms | CPU ms/event | peak RSS MiB | stored = 2xx |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for index, result in enumerate(ingress["rounds"]):
        check = "yes" if mismatch(result) is None else "**no**"
        out.append(
            f"| {index + 1} | {result['events_per_s']:,.0f} | {result['accepted']:,} | "
            f"{result['stored']:,} | {result['delivered']:,} | {result['rejected']} | "
            f"{result['socket_errors']} | {result['p50_us'] / 1000:.1f} | "
            f"{result['p99_us'] / 1000:.1f} | {result['cpu_ms_per_event'] or 0:.3f} | "
            f"{result['peak_rss_mib']:.1f} | {check} |")
    out.append("")
    out.append(f"Median: {ingress['median_events_per_s']:,.0f} events/s.")
    return out


def target_check(ingress):
    """Returns the targets-table row: name, measured value, and whether it is met (None
    when the step failed)."""
    name = "Webhook ingress at least 2,000 events/s with durable commits"
    if "error" in ingress:
        return (name, "not measured: the step failed", None)
    median = ingress["median_events_per_s"]
    measured = f"{median:,.0f} events/s (median)"
    if not ingress["all_match"]:
        measured += "; stored count differed from the 2xx count"
    met = median >= TARGET_EVENTS_PER_SECOND and ingress["all_match"]
    return (name, measured, met)
