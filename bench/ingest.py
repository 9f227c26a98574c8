"""Callback ingest benchmark: wecom-warden vs the usual bare wechatpy handler.

    .venv/bin/python -m bench.ingest [--duration 10] [--requests N] [--concurrency 16,64]

For every concurrency level: pre-generate distinct signed WeCom callbacks (one MsgId each, fresh
timestamps, Chinese text), then load each server with wrk replaying them (bench/wrk_post.lua):
the bare handler (bench/bare_app.py), ours with `--no-worker` and ours with the in-process worker.
Server pinned to one core, wrk to another, one uvicorn worker each. After each of our runs the
stored `inbound_event` rows are counted against the 200s wrk saw. Finally ours is profiled with
py-spy (cProfile in-process if py-spy is unavailable). See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import importlib.util
import os
import platform
import pstats
import random
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlencode

from app.wecom.crypto import CallbackCrypto

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's bin: wecom-warden and py-spy live there
WARDEN = BIN / "wecom-warden"
LUA = Path(__file__).with_name("wrk_post.lua")
HOST = "127.0.0.1"
PATH = "/wecom/callback"

# MsgId prefixes: measured requests start with "7", warm-up requests with "6" (so the row count
# after a run can tell them apart); the second digit is the round.
MEASURED, WARMUP = "7", "6"
# Timestamps must be within the service's 300 s replay window when they arrive.
MAX_TS_AGE_S = 200
# CPU (in cores) that neither the server nor wrk used during a run, above which it is flagged.
OTHER_LOAD_LIMIT = 0.1

# Work-chat phrases; messages are random concatenations cut to 30-100 characters.
PHRASES = [
    "各位同事，明天上午十点在三楼大会议室开周例会，请提前准备好本周的工作总结。",
    "收到，我这边马上处理。",
    "麻烦把上个月的报销单据在周五之前交给财务部王老师。",
    "客户那边刚刚来电话，说合同第三条的付款方式还需要再确认一下。",
    "今天下午两点系统升级，届时内网会中断大约半小时，请大家提前保存好文件。",
    "新版本的测试报告已经上传到共享盘了，请产品组的同事抽空看一下。",
    "请假的同学记得在企业微信里提交审批，不要只在群里说一声。",
    "周末值班表已经排好了，有冲突的请私聊我调整。",
    "这个问题我昨天已经反馈给供应商了，他们说下周一之前给答复。",
    "提醒一下：本群禁止发布广告和与工作无关的链接，违者将被移出群聊。",
    "项目进度有点滞后，需要大家这周加把劲，争取按时交付。",
    "食堂从下周开始调整营业时间，午餐改为十一点半到一点。",
    "好的👍",
    "辛苦了！",
    "请问打印机的墨盒放在哪里？三楼那台又没墨了。",
    "季度考核表请在本月二十五号之前填好交给部门负责人。",
    "我在路上，大概二十分钟后到公司。",
    "培训资料见附件，参加培训的同事请提前下载。",
    "报价单已经更新，单价比上次下调了百分之五。",
    "服务器告警已经恢复，原因是磁盘空间不足，已清理日志。",
    "谁有空帮忙接待一下访客？他们十点到前台。",
    "本周五团建，地点在城东的农家乐，中午十二点集合出发。",
    "OK，没问题。",
    "数据统计口径和上季度保持一致，不要随意改动。",
]
USERS = [
    f"{a}{b}"
    for a in ("zhang", "wang", "li", "zhao", "liu", "chen", "yang", "huang")
    for b in ("wei", "fang", "na", "min", "jing", "lei", "qiang", "jun", "yan", "tao")
]


# -- request generation ------------------------------------------------------------------------


def chinese_text(rng: random.Random) -> str:
    target = rng.randint(30, 100)
    text = ""
    while len(text) < target:
        text += rng.choice(PHRASES)
    return text[:target]


def app_text_message(
    rng: random.Random, *, corp_id: str, agent_id: str, msg_id: str, create_time: str
) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        f"<FromUserName><![CDATA[{rng.choice(USERS)}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{chinese_text(rng)}]]></Content>"
        f"<MsgId>{msg_id}</MsgId><AgentID>{agent_id}</AgentID></xml>"
    )


@dataclass
class RequestSet:
    """A file of distinct signed callbacks; regenerated (same messages) when it gets too old."""

    path: Path
    prefix: str  # MsgId prefix, e.g. "71"
    count: int
    seed: int
    created: float = 0.0

    def ensure_fresh(self, crypto: CallbackCrypto, cfg: BenchConfig) -> None:
        if time.time() - self.created < MAX_TS_AGE_S:
            return
        rng = random.Random(self.seed)
        now = int(time.time())
        ts = str(now)
        with self.path.open("w", encoding="utf-8") as out:
            for i in range(self.count):
                msg_id = f"{self.prefix}{i:017d}"  # 19 digits, like WeCom's
                plain = app_text_message(
                    rng,
                    corp_id=cfg.corp_id,
                    agent_id=cfg.agent_id,
                    msg_id=msg_id,
                    create_time=str(now - rng.randint(0, 2)),
                )
                nonce = "".join(rng.choices(string.digits + string.ascii_lowercase, k=10))
                body, sig = crypto.envelope_xml(plain, timestamp=ts, nonce=nonce, agent_id=cfg.agent_id)
                query = urlencode({"msg_signature": sig, "timestamp": ts, "nonce": nonce})
                out.write(f"{PATH}?{query}\t{body.decode()}\n")
        self.created = time.time()


# -- configuration and processes ---------------------------------------------------------------


@dataclass(frozen=True)
class BenchConfig:
    corp_id: str
    agent_id: str
    token: str
    aes_key: str
    server_cpu: str
    wrk_cpu: str
    threads: int
    tmp: Path

    @classmethod
    def generate(cls, args: argparse.Namespace, tmp: Path) -> BenchConfig:
        return cls(
            corp_id="wwbench" + secrets.token_hex(5),
            agent_id="1000002",
            token=secrets.token_hex(16),  # 32 letters/digits
            aes_key=base64.b64encode(secrets.token_bytes(32)).decode().rstrip("="),  # 43 chars
            server_cpu=args.server_cpu,
            wrk_cpu=args.wrk_cpu,
            threads=args.threads,
            tmp=tmp,
        )

    def env(self, database: Path | None = None) -> dict[str, str]:
        """The inherited environment without any WARDEN_*, plus the benchmark's own settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
        env.update(
            WARDEN_CORP_ID=self.corp_id,
            WARDEN_AGENT_ID=self.agent_id,
            WARDEN_SECRET="bench-" + secrets.token_hex(8),
            WARDEN_TOKEN=self.token,
            WARDEN_AES_KEY=self.aes_key,
            WARDEN_WECOM_BASE_URL="http://127.0.0.1:9",  # never contacted: dry run, no worker
            WARDEN_DRY_RUN="1",
            WARDEN_LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        if database is not None:
            env["WARDEN_DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
        return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> float:
    """CPU time all cores spent not idle since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    | " + line for line in text[-lines:])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{PATH}"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT = uvicorn's graceful shutdown (our lifespan flushes the inbox); kill if stuck."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        print(f"  ! server pid {proc.pid} did not stop in 20 s, killing it")
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running_server(name: str, cmd: list[str], env: dict[str, str], cfg: BenchConfig) -> Iterator[Server]:
    """Start `cmd` pinned to the server core and wait until it accepts connections.

    uvicorn opens its socket only after the lifespan startup, so a connect means ready.
    The server is always stopped on the way out, also on errors and Ctrl-C.
    """
    port = free_port()
    log = cfg.tmp / f"{name.replace(' ', '_')}-{port}.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            ["taskset", "-c", cfg.server_cpu, *cmd, "--host", HOST, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal Ctrl-C reaches only us; we stop it in order
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(log)}")
                with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start within 60 s:\n{tail(log)}")
                time.sleep(0.1)
            yield Server(name, proc, port, log)
        finally:
            _stop(proc)


# -- wrk ---------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    ok: int
    wraps: int
    loaded: int
    socket_errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    other: dict[str, int]  # non-2xx status → count
    cpu_us_per_req: float | None = None
    other_load: float | None = None  # CPU used by neither server nor wrk, in cores

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(self.other.values())

    @property
    def errors(self) -> int:
        return sum(self.socket_errors.values())


def run_wrk(url: str, requests: Path, concurrency: int, duration: float, cfg: BenchConfig) -> WrkResult:
    threads = min(cfg.threads, concurrency)
    cmd = [
        "taskset",
        "-c",
        cfg.wrk_cpu,
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(concurrency),
        "-d",
        f"{duration:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        url,
        "--",
        str(requests),
        str(threads),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    kv = dict(item.split("=", 1) for item in line.split()[1:])
    other = (
        {}
        if kv["other"] == "-"
        else {code: int(n) for code, n in (p.split(":") for p in kv["other"].split(","))}
    )
    return WrkResult(
        requests=int(kv["requests"]),
        duration_s=int(kv["duration_us"]) / 1e6,
        ok=int(kv["ok"]),
        wraps=int(kv["wraps"]),
        loaded=int(kv["loaded"]),
        socket_errors={k: int(kv[k]) for k in ("connect", "read", "write", "timeout")},
        p50_ms=int(kv["p50_us"]) / 1e3,
        p90_ms=int(kv["p90_us"]) / 1e3,
        p99_ms=int(kv["p99_us"]) / 1e3,
        max_ms=int(kv["max_us"]) / 1e3,
        other=other,
    )


def warm_and_measure(
    server: Server,
    warmup: RequestSet,
    measured: RequestSet,
    concurrency: int,
    args: argparse.Namespace,
    cfg: BenchConfig,
) -> WrkResult:
    """A short warm-up (own MsgIds, result only checked for errors), then the measured run."""
    warm = run_wrk(server.url, warmup.path, concurrency, args.warmup, cfg)
    if warm.non_2xx or warm.errors:
        print(f"  ! warm-up of {server.name}: non-2xx {warm.other or 0}, socket errors {warm.socket_errors}")
    time.sleep(0.5)  # let the warm-up's in-flight requests drain
    cpu0, wrk0, busy0 = cpu_seconds(server.proc.pid), children_cpu_seconds(), system_busy_seconds()
    result = run_wrk(server.url, measured.path, concurrency, args.duration, cfg)
    cpu1, wrk1, busy1 = cpu_seconds(server.proc.pid), children_cpu_seconds(), system_busy_seconds()
    if result.requests:
        result.cpu_us_per_req = (cpu1 - cpu0) / result.requests * 1e6
    # Whatever else ran on the machine meanwhile (other people's tests...) disturbs the figures.
    other = (busy1 - busy0) - (cpu1 - cpu0) - (wrk1 - wrk0)
    result.other_load = max(0.0, other) / result.duration_s if result.duration_s else None
    return result


# -- our service -------------------------------------------------------------------------------


def migrated_database(cfg: BenchConfig, label: str) -> Path:
    """A fresh SQLite file per run, migrated with `wecom-warden migrate`."""
    db = cfg.tmp / f"{label}-{secrets.token_hex(3)}.db"  # never reused: MsgIds would repeat
    done = subprocess.run(
        [str(WARDEN), "migrate"], cwd=ROOT, env=cfg.env(db), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wecom-warden migrate failed:\n{done.stdout}\n{done.stderr}")
    return db


def stored_events(db: Path, prefix: str) -> tuple[int, float | None]:
    """(measured rows in inbound_event, mean group-commit batch size or None).

    The batch size is a read-only diagnostic that leans on an internal detail: store_events
    writes one process_event job per commit, so events / jobs is the mean batch.
    """
    with contextlib.closing(sqlite3.connect(db)) as conn:
        like = (f"msg:{prefix}%",)
        rows = int(
            conn.execute("SELECT count(*) FROM inbound_event WHERE dedupe_key LIKE ?", like).fetchone()[0]
        )
        try:
            commits = int(
                conn.execute(
                    "SELECT count(DISTINCT j.id) FROM job j, json_each(j.payload, '$.event_ids') ids"
                    " JOIN inbound_event e ON e.id = ids.value WHERE e.dedupe_key LIKE ?",
                    like,
                ).fetchone()[0]
            )
        except sqlite3.Error:
            commits = 0
    return rows, (rows / commits if commits else None)


@dataclass
class Row:
    server: str
    concurrency: int
    result: WrkResult
    stored: int | None = None  # ours only: measured rows in inbound_event after shutdown
    batch: float | None = None  # ours only: mean rows per group commit
    notes: list[str] = field(default_factory=list)  # problems found in the server's log
    remarks: list[str] = field(default_factory=list)  # shown, but not problems

    @property
    def persistence_ok(self) -> bool:
        # Every 200 was durable; at most `concurrency` more were stored for requests still in
        # flight when wrk stopped counting.
        if self.stored is None:
            return True
        return 0 <= self.stored - self.result.ok <= self.concurrency


def run_ours(
    label: str,
    concurrency: int,
    warmup: RequestSet,
    measured: RequestSet,
    args: argparse.Namespace,
    cfg: BenchConfig,
    *,
    worker: bool,
) -> Row:
    db = migrated_database(cfg, f"{label}-c{concurrency}")
    cmd = [str(WARDEN), "serve"] + ([] if worker else ["--no-worker"])
    with running_server(label, cmd, cfg.env(db), cfg) as server:
        result = warm_and_measure(server, warmup, measured, concurrency, args, cfg)
    # Counted after the graceful shutdown, which flushes the inbox.
    stored, batch = stored_events(db, measured.prefix)
    row = Row(label, concurrency, result, stored, batch)
    check_server_log(server, row)
    return row


def run_bare(
    concurrency: int, warmup: RequestSet, measured: RequestSet, args: argparse.Namespace, cfg: BenchConfig
) -> Row:
    cmd = [sys.executable, "-m", "bench.bare_app"]
    with running_server("bare", cmd, cfg.env(), cfg) as server:
        result = warm_and_measure(server, warmup, measured, concurrency, args, cfg)
    row = Row("bare wechatpy", concurrency, result)
    check_server_log(server, row)
    return row


# Top-level lines of the traceback uvicorn logs when a client hangs up before the handler has read
# the body: wrk does that to the requests in flight when it stops.
_DISCONNECT_LINES = (
    "Traceback (most recent call last):",
    "starlette.requests.ClientDisconnect",
    "ERROR:    Exception in ASGI application",
)


def check_server_log(server: Server, row: Row) -> None:
    """Anything the server logged (its log level is WARNING) is shown.

    Logs made only of ClientDisconnect tracebacks are a remark, not a problem: they come from the
    connections wrk closes at its cut-off (the service logs them as errors; see the report).
    """
    text = server.log.read_text(errors="replace").strip()
    if not text:
        return
    lines = [ln for ln in text.splitlines() if ln and not ln[0].isspace()]
    disconnects = text.count("starlette.requests.ClientDisconnect")
    if disconnects and all(ln.strip() in _DISCONNECT_LINES for ln in lines):
        row.remarks.append(
            f"{server.name} logged {disconnects} ClientDisconnect traceback(s) "
            "(requests cut off when wrk stopped)"
        )
    else:
        row.notes.append(f"{server.name} logged:\n{tail(server.log, 25)}")


# -- output ------------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'server':<24} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'non-2xx':>7} {'sock err':>8} {'CPU µs/req':>10} {'other':>5} {'batch':>5}  "
        "stored rows vs 200s"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        r = row.result
        cpu = f"{r.cpu_us_per_req:.0f}" if r.cpu_us_per_req is not None else "-"
        batch = f"{row.batch:.1f}" if row.batch is not None else "-"
        other = f"{r.other_load:.0%}" if r.other_load is not None else "-"
        if row.stored is None:
            check = "- (no persistence)"
        else:
            diff = row.stored - r.ok
            verdict = "OK" if row.persistence_ok else "MISMATCH"
            check = f"{row.stored:,} vs {r.ok:,} ({diff:+d}, in flight ≤ {row.concurrency}) {verdict}"
        print(
            f"{row.server:<24} {row.concurrency:>4} {r.rps:>8,.0f} {r.p50_ms:>7.2f} "
            f"{r.p99_ms:>7.2f} {r.non_2xx:>7} {r.errors:>8} {cpu:>10} {other:>5} {batch:>5}  {check}"
        )
    print()
    for conc in sorted({row.concurrency for row in rows}):
        # Median requests/s per server over the --repeat runs (the only value with one run).
        rps: dict[str, float] = {}
        for name in dict.fromkeys(row.server for row in rows if row.concurrency == conc):
            rps[name] = statistics.median(
                row.result.rps for row in rows if row.concurrency == conc and row.server == name
            )
        bare = rps.pop("bare wechatpy", 0.0)
        if not bare:
            continue
        runs = sum(1 for row in rows if row.concurrency == conc and row.server == "bare wechatpy")
        what = f"median requests/s of {runs} runs" if runs > 1 else "requests/s"
        ratios = ", ".join(f"{name}/bare = {value / bare:.2f}×" for name, value in rps.items())
        print(f"ratio ({what}) at c={conc}: {ratios}")


def problems(rows: list[Row]) -> list[str]:
    """Everything that makes a run suspect: printed, never hidden."""
    out: list[str] = []
    for row in rows:
        r, where = row.result, f"{row.server} c={row.concurrency}"
        if r.non_2xx:
            out.append(f"{where}: non-2xx responses {r.other}")
        if r.errors:
            out.append(f"{where}: socket errors {r.socket_errors}")
        if r.wraps:
            out.append(
                f"{where}: requests repeated ({r.wraps} wraps over {r.loaded:,} loaded); raise --requests"
            )
        if r.other_load is not None and r.other_load > OTHER_LOAD_LIMIT:
            out.append(
                f"{where}: other processes used {r.other_load:.0%} of a core during the "
                "run; its figures are disturbed, run again on a quiet machine"
            )
        if not row.persistence_ok:
            out.append(f"{where}: {row.stored} stored rows but {r.ok} responses 200")
        out.extend(f"{where}: {note}" for note in row.notes if note)
    return out


# -- profile -----------------------------------------------------------------------------------


def component(frame: str) -> str:
    """Which library the leaf frame `func (path:line)` of a py-spy sample belongs to."""
    # py-spy (without --native) charges C code to the Python frame that called it.
    if frame.startswith("Runner.run ("):
        return "uvloop + httptools C (loop, sockets, HTTP parsing; self time of Runner.run)"
    if frame.startswith("_connection_worker_thread ("):
        return "sqlite3 C (execute/commit in the aiosqlite thread)"
    if frame == NO_FRAME:
        return NO_FRAME
    for marker, name in (
        ("/wechatpy/", "wechatpy"),
        ("xmltodict", "xmltodict"),
        ("/defusedxml/", "defusedxml"),
        ("/xml/", "xml.etree/expat"),
        ("/cryptography/", "cryptography (AES)"),
        ("/sqlalchemy/", "SQLAlchemy"),
        ("/aiosqlite/", "aiosqlite"),
        ("/sqlite3/", "sqlite3"),
        ("/fastapi/", "FastAPI"),
        ("/starlette/", "Starlette"),
        ("/uvicorn/", "uvicorn"),
        ("/anyio/", "anyio (thread pool)"),
        ("/pydantic", "pydantic"),
        ("/asyncio/", "asyncio"),
        (f"{ROOT}/app/", "app (ours)"),
        ("/threading.py", "threading"),
        ("/queue.py", "queue"),
    ):
        if marker in frame:
            return name
    return "other"


NO_FRAME = "(no Python frame: C code)"
# Frames every sample of a thread passes through; they say nothing about where time goes.
ENTRY_FRAMES = {
    "<module>",
    "main",
    "cmd_serve",
    "run",
    "Server.run",
    "asyncio_run",
    "Runner.run",
    "Thread._bootstrap",
    "Thread._bootstrap_inner",
    "Thread.run",
}


# Request-path stages whose inclusive share is reported: (function names separated by "|",
# file fragment, label). Names that no longer exist just show 0%.
STAGES = [
    ("receive_app_callback|_receive", "app/api/callback.py", "POST handler, all inside it"),
    ("_read_body", "app/api/callback.py", "  _read_body"),
    ("_signed_query", "app/api/callback.py", "  _signed_query"),
    ("decrypt_xml", "app/wecom/crypto.py", "  CallbackCrypto.decrypt_xml"),
    ("parse_xml", "app/wecom/crypto.py", "    parse_xml (defusedxml; envelope and plaintext)"),
    ("decrypt_message", "wechatpy/", "    wechatpy decrypt_message"),
    ("xml_fields", "app/wecom/crypto.py", "  xml_fields"),
    ("from_xml_fields", "app/inbox.py", "  InboxRecord.from_xml_fields"),
    ("put", "app/inbox.py", "  InboxWriter.put (hand over, await the group commit)"),
    ("_commit", "app/inbox.py", "InboxWriter._commit (writer task, event-loop side)"),
    ("store_events", "app/inbox.py", "  store_events"),
    ("run_endpoint_function", "fastapi/", "FastAPI run_endpoint_function"),
    ("solve_dependencies", "fastapi/", "FastAPI solve_dependencies"),
    ("run_in_threadpool", "starlette/", "  run_in_threadpool (a sync dependency → thread pool)"),
    ("run", "anyio/", "anyio worker threads"),
    ("_connection_worker_thread", "aiosqlite/", "aiosqlite thread (sqlite C work + queueing)"),
]


def _matches(frame: str, func: str, fragment: str) -> bool:
    name, _, where = frame.partition(" (")
    short_name = name.rsplit(".", 1)[-1]  # "InboxWriter.put" → "put"
    return fragment in where and (name in func.split("|") or short_name in func.split("|"))


def summarize_pyspy(raw: Path, top: int) -> None:
    """py-spy --format raw: one `frame;frame;...;leaf count` line per distinct stack."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_component: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count, frames = int(count_text), (stack.split(";") if stack.strip() else [NO_FRAME])
        total += count
        self_time[frames[-1]] += count
        by_component[component(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
        for func, fragment, label in STAGES:
            if any(_matches(f, func, fragment) for f in frames):
                stages[label] += count
    if not total:
        print("  (no samples)")
        return

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    print(f"  {total:,} samples (on-CPU, all threads)\n")
    print("  self time by component (where the leaf frame is):")
    for name, n in by_component.most_common():
        print(f"    {pct(n)}  {name}")
    print("\n  inclusive time of request-path stages:")
    for _, _, label in STAGES:
        print(f"    {pct(stages[label])}  {label}")
    print(f"\n  top {top} functions by self time:")
    for frame, n in self_time.most_common(top):
        print(f"    {pct(n)}  {short(frame)}")
    print(f"\n  top {top} functions by inclusive time (thread entry frames left out):")
    shown = [(f, n) for f, n in inclusive.most_common() if f.partition(" (")[0] not in ENTRY_FRAMES][:top]
    for frame, n in shown:
        print(f"    {pct(n)}  {short(frame)}")


def short(frame: str) -> str:
    """Shorten site-packages paths in a frame name."""
    for marker in ("site-packages/", "lib/python3.11/", f"{ROOT}/"):
        if marker in frame:
            head, _, rest = frame.partition("(")
            return f"{head}({rest.split(marker, 1)[1]}"
    return frame


def ensure_pyspy() -> Path | None:
    pyspy = BIN / "py-spy"
    if pyspy.exists():
        return pyspy
    print("py-spy not in the venv: pip install py-spy")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "py-spy"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not pyspy.exists():
        print(f"  could not install py-spy ({done.stderr.strip()[-300:]}); using cProfile")
        return None
    return pyspy


def profile_pyspy(
    pyspy: Path, warmup: RequestSet, measured: RequestSet, args: argparse.Namespace, cfg: BenchConfig
) -> bool:
    db = migrated_database(cfg, "profile")
    raw = cfg.tmp / "pyspy.txt"
    conc = args.profile_concurrency
    with running_server("ours profiled", [str(WARDEN), "serve", "--no-worker"], cfg.env(db), cfg) as server:
        run_wrk(server.url, warmup.path, conc, args.warmup, cfg)
        # py-spy shares wrk's core; --nonblocking samples without pausing the server.
        spy = subprocess.Popen(
            [
                "taskset",
                "-c",
                cfg.wrk_cpu,
                str(pyspy),
                "record",
                "--pid",
                str(server.proc.pid),
                "--duration",
                f"{args.duration:.0f}",
                "--rate",
                "400",
                "--nonblocking",
                "--function",
                "--full-filenames",
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            time.sleep(0.5)  # py-spy attaches
            result = run_wrk(server.url, measured.path, conc, args.duration, cfg)
            out, _ = spy.communicate(timeout=60)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
    if spy.returncode != 0 or not raw.exists():
        print(f"  py-spy failed ({spy.returncode}): {out.strip()[-500:]}")
        return False
    print(
        f"  ours --no-worker under py-spy at c={conc}: {result.rps:,.0f} req/s, "
        f"p99 {result.p99_ms:.2f} ms, non-2xx {result.non_2xx}, socket errors {result.errors}"
    )
    summarize_pyspy(raw, args.top)
    return True


def profile_cprofile(
    warmup: RequestSet, measured: RequestSet, args: argparse.Namespace, cfg: BenchConfig
) -> None:
    """Fallback: ours in-process under cProfile (main thread only), driven by wrk."""
    db = migrated_database(cfg, "profile-cprofile")
    stats = cfg.tmp / "cprofile.pstats"
    cmd = [sys.executable, "-m", "bench.ingest", "--serve-cprofile", str(stats)]
    conc = args.profile_concurrency
    with running_server("ours cProfile", cmd, cfg.env(db), cfg) as server:
        run_wrk(server.url, warmup.path, conc, args.warmup, cfg)
        result = run_wrk(server.url, measured.path, conc, args.duration, cfg)
    print(
        f"  ours under cProfile at c={conc}: {result.rps:,.0f} req/s (profiler overhead "
        "included; startup and warm-up are in the profile too)"
    )
    pstats.Stats(str(stats)).sort_stats("tottime").print_stats(args.top)
    pstats.Stats(str(stats)).sort_stats("cumulative").print_stats(args.top)


def serve_cprofile(stats_path: str, host: str, port: int) -> int:
    """`--serve-cprofile`: run the service like `wecom-warden serve --no-worker`, profiled."""
    import uvicorn

    from app.logs import configure_logging
    from app.main import create_app
    from app.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    app = create_app(settings, run_worker=False)  # its lifespan refuses an unmigrated database
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        # uvicorn handles SIGINT itself (graceful shutdown), then returns here.
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=True,
            timeout_graceful_shutdown=10,
        )
    finally:
        profiler.disable()
        profiler.dump_stats(stats_path)
    return 0


# -- main --------------------------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    print("wrk is not on PATH: installing it with `apt-get install -y -qq wrk`")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    if not shutil.which("wrk"):
        raise SystemExit("wrk could not be installed")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    p.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per server")
    p.add_argument(
        "--requests",
        type=int,
        default=0,
        help="distinct requests per concurrency level (default: 15,000 per second of --duration)",
    )
    p.add_argument("--concurrency", default="16,64", help="comma-separated connection counts")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per server and concurrency, alternating servers; the ratio uses the median",
    )
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--wrk-cpu", default="1")
    p.add_argument("--no-worker-row", action="store_true", help="skip the 'ours + in-process worker' runs")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--profiler", choices=["py-spy", "cprofile"], default="py-spy")
    p.add_argument("--profile-concurrency", type=int, default=16)
    p.add_argument("--top", type=int, default=20, help="functions listed in the profile")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    # Internal: the cProfile fallback server (see profile_cprofile).
    p.add_argument("--serve-cprofile", metavar="STATS", help=argparse.SUPPRESS)
    p.add_argument("--host", default=HOST, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def describe_setup(args: argparse.Namespace, cfg: BenchConfig, n: int) -> None:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    wrk_version = subprocess.run(
        ["wrk", "-v"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[:1]
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {' '.join(wrk_version)}".strip())
    print(f"uvicorn: 1 worker, loop={loop} http={http} (auto), access log off, log level warning")
    print(
        f"server on CPU {cfg.server_cpu}, wrk ({cfg.threads} threads) on CPU {cfg.wrk_cpu}; "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per run"
    )
    print(
        f"{n:,} distinct signed requests per concurrency level (+ warm-up set); "
        f"databases and logs in {cfg.tmp}\n"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_cprofile:
        return serve_cprofile(args.serve_cprofile, args.host, args.port)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    n = args.requests or int(15_000 * args.duration)
    n_warm = int(15_000 * args.warmup) + 1_000
    ensure_wrk()
    if len(os.sched_getaffinity(0)) < 2:
        print("! fewer than 2 CPUs available: server and wrk will share a core")

    # SIGTERM → SystemExit, so that the `finally` blocks stop the servers.
    def on_term(_sig: int, _frame: FrameType | None) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    cfg = BenchConfig.generate(args, tmp)
    crypto = CallbackCrypto(cfg.token, cfg.aes_key, cfg.corp_id)
    rows: list[Row] = []
    try:
        describe_setup(args, cfg, n)
        for round_no, conc in enumerate(concurrencies, start=1):
            digit = str(round_no % 10)
            warm = RequestSet(tmp / f"warm-{conc}.txt", WARMUP + digit, n_warm, seed=round_no)
            measured = RequestSet(tmp / f"req-{conc}.txt", MEASURED + digit, n, seed=1000 + round_no)
            runs: list[tuple[str, bool | None]] = [("bare wechatpy", None), ("ours --no-worker", False)]
            if not args.no_worker_row:
                runs.append(("ours + worker", True))
            # With --repeat the servers alternate, so slow drifts of the machine hit all alike.
            for rep in range(args.repeat):
                for label, worker in runs:
                    t0 = time.monotonic()
                    warm.ensure_fresh(crypto, cfg)
                    measured.ensure_fresh(crypto, cfg)
                    run_no = f" (run {rep + 1}/{args.repeat})" if args.repeat > 1 else ""
                    print(f"c={conc}: {label}{run_no} ...", end=" ", flush=True)
                    if worker is None:
                        row = run_bare(conc, warm, measured, args, cfg)
                    else:
                        row = run_ours(label, conc, warm, measured, args, cfg, worker=worker)
                    rows.append(row)
                    print(f"{row.result.rps:,.0f} req/s ({time.monotonic() - t0:.0f} s)")
        print()
        print_table(rows)
        found = problems(rows)
        print("\nproblems: " + ("none" if not found else ""))
        for line in found:
            print(f"  ! {line}")
        for row in rows:
            for remark in row.remarks:
                print(f"  note: {row.server} c={row.concurrency}: {remark}")

        if not args.no_profile:
            print(f"\n== profile: ours --no-worker at c={args.profile_concurrency}, {args.duration:g} s")
            warm = RequestSet(tmp / "warm-profile.txt", WARMUP + "0", n_warm, seed=1)
            measured = RequestSet(tmp / "req-profile.txt", MEASURED + "0", n, seed=1000)
            warm.ensure_fresh(crypto, cfg)
            measured.ensure_fresh(crypto, cfg)
            pyspy = ensure_pyspy() if args.profiler == "py-spy" else None
            if pyspy is None or not profile_pyspy(pyspy, warm, measured, args, cfg):
                profile_cprofile(warm, measured, args, cfg)
        return 1 if found else 0
    finally:
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
