"""Archive pipeline benchmark: msgaudit_notify → pull → policies → stored decisions → planned actions.

    .venv/bin/python -m bench.pipeline [--messages 3000] [--rounds 5] [--profile]

The simulator (in this process, a thread) holds one registered app group of 60 members; each round
loads `--messages` archive messages into it (a mix of everyday work chat, ads, insults, links, long
posts and quiet-hour posts, built from the templates below, optionally with LCCC chit-chat from
../shared/eval as filler) and then sends one `msgaudit_notify`. The service (`wecom-warden`'s app
with its worker in-process, its own SQLite file, pinned to one core) pulls, judges and plans; the
executor writes to the simulator. Measured per round:

* messages/s: from the notify until every message's inbound event is processed (its judged-message
  row, violations, strikes and planned actions commit in that same transaction);
* latency from the notify to the first WeCom write (the simulator's record of the first
  message/send, appchat/send, appchat/update or webhook/send after the notify).

The same rounds run again with the content domain switched off (pull + store + normalise only):
the in-run baseline. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bench.ingest import cpu_seconds, free_port  # the same loopback port and /proc CPU time

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
CORP_ID = "wwbenchpipeline01"
CHAT = "wrbench0001"
OWNER = "owner01"
MEMBERS = [f"staff{i:02d}" for i in range(1, 61)]
TZ = ZoneInfo("Asia/Shanghai")
WRITE_PATHS = frozenset(
    {
        "/cgi-bin/message/send",
        "/cgi-bin/appchat/send",
        "/cgi-bin/appchat/update",
        "/cgi-bin/webhook/send",
        "/cgi-bin/message/recall",
    }
)
EVAL_CANDIDATES = (ROOT.parent / "shared" / "eval", ROOT.parent.parent / "shared" / "eval")
MAX_ROUNDS = 12  # each round advances the simulator's clock 16 s; the replay window is 300 s
MAX_MESSAGES = 20_000  # MAX_PAGES_PER_RUN (20) pages of 1000: one pull per round

# Our own templates (never copied from the evaluation data).
WORK = [
    "明天上午十点在三楼会议室开周例会，请大家准时参加。",
    "收到，我这边马上处理。",
    "麻烦把上个月的报销单在周五前交给财务。",
    "客户刚来电话，合同第三条的付款方式还要再确认一下。",
    "下午两点系统升级，内网中断半小时，请提前保存文件。",
    "测试报告已经上传到共享盘，产品组抽空看一下。",
    "请假记得在系统里提交审批。",
    "周末值班表排好了，有冲突的私聊我调整。",
    "这个问题已经反馈给供应商，他们说周一前答复。",
    "项目进度有点滞后，这周大家加把劲。",
    "好的👍",
    "辛苦了！",
    "三楼打印机又没墨了，墨盒放在哪里？",
    "季度考核表请在二十五号前交给部门负责人。",
    "我在路上，二十分钟后到公司。",
    "报价单已更新，单价比上次下调百分之五。",
    "服务器告警已恢复，原因是磁盘空间不足。",
    "谁有空帮忙接待一下访客？十点到前台。",
    "OK，没问题。",
    "数据统计口径和上季度保持一致。",
    "@王经理 样品明天寄出，单号稍后发你。",
    "发票抬头写公司全称，税号见群公告。",
]
ADS = [
    "加 薇 信 {code} 领取优惠",
    "兼职刷单日结300元，有意者加V：{code}",
    "低价代开发票，正规渠道，联系QQ {digits}",
    "本店新品上市，全场五折，扫码进群领红包",
]
INSULTS = ["你个傻逼，滚出去", "傻逼吧你，{work}", "你是傻逼吗？这都不会"]
LINKS = [
    "大家看看这个 http://bit.ly/{code} 免费领取",
    "中奖通知 http://wecom-gift.xyz/claim?id={digits}",
    "文档在这里 https://docs.qq.com/doc/{code}",
]
# (kind, share); the rest is everyday work chat
MIX = (("ad", 0.03), ("insult", 0.01), ("link", 0.03), ("long", 0.02), ("quiet", 0.02))


@dataclass
class Round:
    messages: int
    seconds: float  # notify → every event processed
    first_write_s: float | None  # notify → the first WeCom write
    judged: int
    violations: int
    actions: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Run:
    label: str
    rounds: list[Round] = field(default_factory=list)
    cpu_s: float = 0.0

    def rates(self) -> list[float]:
        return [r.rate for r in self.rounds]

    def latencies(self) -> list[float]:
        return [r.first_write_s for r in self.rounds if r.first_write_s is not None]


# -- messages ----------------------------------------------------------------------------------


def load_filler() -> list[str]:
    """Everyday chit-chat from the LCCC dev split, read at run time (never stored in the repo)."""
    for folder in EVAL_CANDIDATES:
        path = folder / "lccc.dev.jsonl"
        if path.exists():
            texts = []
            with path.open(encoding="utf-8") as f:
                for line in f:
                    text = json.loads(line).get("text")
                    if isinstance(text, str) and 2 <= len(text) <= 200:
                        texts.append(text)
            return texts
    return []


def make_messages(
    rng: random.Random, n: int, day: datetime, filler: list[str]
) -> tuple[list[dict[str, Any]], int]:
    """`n` archive messages spread over 09:00-18:00 of `day` (quiet-hour posts at 23:xx);
    returns them and how many were built to break a rule."""
    start_ms = int(day.replace(hour=9, minute=0, second=0, microsecond=0).timestamp() * 1000)
    step_ms = 9 * 3600 * 1000 // max(n, 1)
    out: list[dict[str, Any]] = []
    bad = 0
    for i in range(n):
        at = start_ms + i * step_ms
        roll = rng.random()
        kind = "work"
        for name, share in MIX:
            if roll < share:
                kind = name
                break
            roll -= share
        code = "".join(rng.choices("abcdefghjkmnpqrstuvwxyz23456789", k=7))
        fill = {"code": code, "digits": str(rng.randint(10_000_000, 99_999_999)), "work": rng.choice(WORK)}
        if kind == "ad":
            text = rng.choice(ADS).format(**fill)
        elif kind == "insult":
            text = rng.choice(INSULTS).format(**fill)
        elif kind == "link":
            text = rng.choice(LINKS).format(**fill)
        elif kind == "long":
            text = "".join(rng.choice(WORK) for _ in range(14))[:320]
        elif filler and rng.random() < 0.3:
            text = rng.choice(filler)
        else:
            text = rng.choice(WORK)
        if kind == "quiet":
            at = int(day.replace(hour=23, minute=rng.randint(0, 50)).timestamp() * 1000) + i
        bad += kind != "work"
        out.append({"from": rng.choice(MEMBERS), "roomid": CHAT, "content": text, "msgtime": at})
    return out, bad


# -- processes ---------------------------------------------------------------------------------


def service_env(db: Path, sim_url: str, secrets_: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(
        WARDEN_CORP_ID=CORP_ID,
        WARDEN_AGENT_ID="1000002",
        WARDEN_SECRET=secrets_["secret"],
        WARDEN_TOKEN=secrets_["token"],
        WARDEN_AES_KEY=secrets_["aes_key"],
        WARDEN_ADMIN_TOKEN=secrets_["admin"],
        WARDEN_WECOM_BASE_URL=sim_url,
        WARDEN_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
        WARDEN_ARCHIVE_SOURCE="simulator",
        WARDEN_ARCHIVE_START="earliest",
        WARDEN_ARCHIVE_POLL_S="3600",
        WARDEN_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def serve(port: int, content: bool, cpu: int | None) -> int:
    """`--serve`: the service with its worker in-process, optionally without the content domain."""
    import uvicorn

    from app.logs import configure_logging
    from app.main import create_app
    from app.settings import load_settings
    from app.tasks import INSTALLED_DOMAINS, installed_domains

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # every thread of the service: one core
    settings = load_settings()
    configure_logging(settings.log_level)
    if os.environ.get("BENCH_SQL_LOG"):
        count_statements(Path(os.environ["BENCH_SQL_LOG"]))
    names = [n for n in INSTALLED_DOMAINS if content or n != "app.content"]
    app = create_app(settings, run_worker=True, domains=installed_domains(names))
    if os.environ.get("BENCH_CPROFILE"):
        import atexit
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()

        def dump() -> None:
            profiler.disable()
            profiler.dump_stats(os.environ["BENCH_CPROFILE"])

        atexit.register(dump)
    uvicorn.run(
        app, host=HOST, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=10
    )
    return 0


def count_statements(out: Path) -> None:
    """`--sql`: count the statements the service sends to SQLite, by their first words, written
    to `out` at exit (the bench prints them per message)."""
    import atexit

    import sqlalchemy as sa

    seen: Counter[str] = Counter()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        words = statement.split(None, 4)
        verb = words[0].upper() if words else ""
        table = next((w for w in words[1:] if w.isidentifier() and w.upper() not in SQL_WORDS), "")
        seen[f"{verb} {table}".strip()] += 1

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
    atexit.register(lambda: out.write_text(json.dumps(seen)))


SQL_WORDS = frozenset({"INTO", "FROM", "OR", "IGNORE", "DISTINCT", "COUNT", "TO"})


@contextlib.contextmanager
def running_service(
    label: str, env: dict[str, str], tmp: Path, *, content: bool, cpu: int | None
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    log = tmp / f"service-{label}.log"
    cmd = [
        sys.executable,
        "-m",
        "bench.pipeline",
        "--serve",
        str(port),
        "--content",
        "on" if content else "off",
    ]
    if cpu is not None:
        cmd += ["--service-cpu", str(cpu)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"service exited with {proc.returncode}: {log.read_text()[-2000:]}")
                with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("service did not start within 60 s")
                time.sleep(0.1)
            yield proc, f"http://{HOST}:{port}", log
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(BIN / "wecom-warden"), "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wecom-warden migrate failed:\n{done.stdout}\n{done.stderr}")


# -- measuring ---------------------------------------------------------------------------------


def count(db: sqlite3.Connection, sql: str) -> int:
    return int(db.execute(sql).fetchone()[0])


def first_write(sim: Any, since: float) -> float | None:
    """The simulator's clock time of its first write call at or after `since` (virtual time)."""
    with sim.state.lock:
        times = [c.time for c in sim.state.calls if c.path in WRITE_PATHS and c.time >= since]
    return min(times) if times else None


def run_rounds(label: str, args: argparse.Namespace, content: bool, tmp: Path, filler: list[str]) -> Run:
    from app.simulator.org import parse_org
    from app.simulator.runner import SimulatorServer
    from app.simulator.sender import CallbackTarget
    from app.simulator.state import SimConfig

    org = parse_org(
        {
            "departments": [{"id": 1, "name": "基准测试公司", "parentid": 0}],
            "users": [{"userid": u, "name": u, "department": [1], "status": 1} for u in [OWNER, *MEMBERS]],
            "app_chats": [
                {
                    "chatid": CHAT,
                    "name": "基准工作群",
                    "owner": OWNER,
                    "members": [OWNER, *MEMBERS],
                    "created_by_app": True,
                }
            ],
        }
    )
    keys = {
        "secret": "bench-" + secrets.token_hex(8),
        "token": secrets.token_hex(16),
        "aes_key": base64.b64encode(secrets.token_bytes(32)).decode().rstrip("="),  # 43 characters
        "admin": "bench-admin-" + secrets.token_hex(12),
    }
    db_path = tmp / f"{label}.db"
    run = Run(label)
    rng = random.Random(args.seed)
    with SimulatorServer(org, config=SimConfig(corp_id=CORP_ID, secret=keys["secret"])) as sim:
        env = service_env(db_path, sim.base_url, keys)
        sql_log = tmp / f"sql-{label.replace(' ', '-')}.json"
        if args.sql:
            env["BENCH_SQL_LOG"] = str(sql_log)
        if os.environ.get("BENCH_PIPELINE_CPROFILE"):  # a debugging aid: cProfile the service
            env["BENCH_CPROFILE"] = os.environ["BENCH_PIPELINE_CPROFILE"]
        migrate(env)
        with running_service(label, env, tmp, content=content, cpu=args.service_cpu) as (proc, url, log):
            sim.state.callback_target = CallbackTarget(
                url=f"{url}/wecom/callback",
                token=keys["token"],
                encoding_aes_key=keys["aes_key"],
                corp_id=CORP_ID,
                agent_id=sim.config.agent_id,
            )
            auth = {"Authorization": f"Bearer {keys['admin']}"}
            r = httpx.post(
                f"{url}/api/v1/groups", json={"chat_id": CHAT, "kind": "app"}, headers=auth, timeout=30
            )
            if r.status_code != 201:
                raise RuntimeError(f"registering the group failed: {r.status_code} {r.text[:500]}")
            db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
            total = 0
            cpu_before = cpu_seconds(proc.pid)
            spy: subprocess.Popen[bytes] | None = None
            for i in range(args.warmup + args.rounds):
                if i == args.warmup and args.profile and content:
                    spy = start_pyspy(proc.pid, tmp / "pyspy.txt", args.bench_cpu)
                day = (datetime.now(TZ) + timedelta(days=1 + i)).replace(hour=0, minute=0)
                messages, _bad = make_messages(rng, args.messages, day, filler)
                r = httpx.post(
                    f"{sim.base_url}/_sim/archive/messages", json={"messages": messages}, timeout=60
                )
                r.raise_for_status()
                before = {
                    "judged": count(db, "SELECT count(*) FROM judged_message"),
                    "violations": count(db, "SELECT count(*) FROM violation"),
                    "actions": count(db, "SELECT count(*) FROM action"),
                }
                total += len(messages)
                offset = sim.state.clock_offset
                t0 = time.time()
                r = httpx.post(
                    f"{sim.base_url}/_sim/archive/messages", json={"messages": [], "notify": True}, timeout=60
                )
                r.raise_for_status()
                deadline = time.monotonic() + args.timeout
                done_at = None
                while time.monotonic() < deadline:
                    # Cheap to ask (small tables): the pull stored the round, and no batch is left.
                    stored = count(db, "SELECT coalesce(sum(messages), 0) FROM archive_cursor")
                    if stored >= total and not count(
                        db,
                        "SELECT count(*) FROM job WHERE kind = 'process_event'"
                        " AND status IN ('queued', 'running')",
                    ):
                        done_at = time.time()
                        break
                    time.sleep(0.01)
                if done_at is None:
                    raise RuntimeError(
                        f"{label}: round {i + 1} not processed within {args.timeout} s; log {log}"
                    )
                write = None
                if content:
                    while time.monotonic() < deadline and write is None:
                        write = first_write(sim, t0 + offset)
                        time.sleep(0.005)
                processed = count(
                    db, "SELECT count(*) FROM inbound_event WHERE source = 'archive' AND status = 'processed'"
                )
                if processed < total:
                    raise RuntimeError(f"{label}: {processed} of {total} archive events processed")
                after = {
                    "judged": count(db, "SELECT count(*) FROM judged_message"),
                    "violations": count(db, "SELECT count(*) FROM violation"),
                    "actions": count(db, "SELECT count(*) FROM action"),
                }
                result = Round(
                    messages=len(messages),
                    seconds=done_at - t0,
                    first_write_s=None if write is None else write - offset - t0,
                    judged=after["judged"] - before["judged"],
                    violations=after["violations"] - before["violations"],
                    actions=after["actions"] - before["actions"],
                )
                if content and result.judged != len(messages):
                    raise RuntimeError(f"{label}: {result.judged} of {len(messages)} messages judged")
                tag = "warm-up" if i < args.warmup else f"round {i - args.warmup + 1}"
                first = "-" if result.first_write_s is None else f"{result.first_write_s * 1000:,.0f} ms"
                print(
                    f"  {label:<12} {tag:<8} {result.rate:>8,.0f} msg/s  first write {first:>9}  "
                    f"judged {result.judged:,}  violations {result.violations}  actions {result.actions}",
                    flush=True,
                )
                if i >= args.warmup:
                    run.rounds.append(result)
                # Let the executor finish this round's due actions (group posts held for quiet
                # hours stay queued), so rounds do not queue behind each other; then keep notices
                # ≥ 15 s apart on the simulator's clock.
                settle = time.monotonic() + 120
                drain_from = time.monotonic()
                while time.monotonic() < settle:
                    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                    due = db.execute(
                        "SELECT count(*) FROM job WHERE kind = 'execute_action'"
                        " AND status IN ('queued', 'running') AND due_at <= ?",
                        (now,),
                    ).fetchone()[0]
                    if not due:
                        break
                    time.sleep(0.1)
                if content:
                    print(f"  {'':<12} {'':<8} executor drained {time.monotonic() - drain_from:5.1f} s later")
                sim.state.advance(16)
            run.cpu_s = cpu_seconds(proc.pid) - cpu_before
            if spy is not None:
                stop_pyspy(spy, tmp / "pyspy.txt", args.top)
            db.close()
            problems = [
                ln
                for ln in log.read_text(errors="replace").splitlines()
                if "Traceback" in ln or "ERROR" in ln
            ]
            if problems:
                print(f"  ! the service logged {len(problems)} error lines (see {log})")
    if args.sql and sql_log.exists():
        seen = json.loads(sql_log.read_text())
        messages = (args.warmup + args.rounds) * args.messages
        print(f"  statements per message ({label}, warm-up and start-up included):")
        for name, n in sorted(seen.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"    {n / messages:7.2f}  {name}")
        print(f"    {sum(seen.values()) / messages:7.2f}  in all")
    return run


def start_pyspy(pid: int, raw: Path, cpu: int) -> subprocess.Popen[bytes] | None:
    pyspy = BIN / "py-spy"
    if not pyspy.exists():
        print("  py-spy is not in the venv (pip install py-spy): no profile")
        return None
    cmd = [str(pyspy), "record", "--pid", str(pid), "--rate", "200", "--nonblocking", "--function"]
    cmd += ["--format", "raw", "--output", str(raw)]
    if cpu >= 0:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached
    return spy


def stop_pyspy(spy: subprocess.Popen[bytes], raw: Path, top: int) -> None:
    """Stop py-spy (it writes on SIGINT) and print self and inclusive shares of the hottest frames."""
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
    if not raw.exists():
        print("  py-spy wrote no profile")
        return
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = [short(f) for f in stack.split(";")]
        total += int(n)
        own[frames[-1]] += int(n)
        for frame in set(frames):
            inclusive[frame] += int(n)
    print(f"\nprofile of the service (py-spy, {total:,} samples of the measured rounds, all threads)")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"  top {top} by {title} time:")
        for frame, hits in counter.most_common(top):
            print(f"    {100 * hits / max(total, 1):5.1f}%  {frame}")


def short(frame: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", f"{ROOT}/"):
        if marker in frame:
            head, _, rest = frame.partition("(")
            return f"{head}({rest.split(marker, 1)[1]}"
    return frame


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def print_table(runs: list[Run], args: argparse.Namespace) -> None:
    base = runs[-1] if len(runs) > 1 else None
    print()
    print(f"{args.messages:,} messages per round, {args.rounds} rounds (after {args.warmup} warm-up)")
    print()
    header = f"| {'run':<26} | msg/s median | msg/s min | first write p50 ms | p99 ms | CPU µs/msg | ratio |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for run in runs:
        rates = run.rates()
        lat = run.latencies()
        msgs = sum(r.messages for r in run.rounds)
        ratio = statistics.median(rates) / statistics.median(base.rates()) if base else 1.0
        p50 = f"{statistics.median(lat) * 1000:,.0f}" if lat else "-"
        p99 = f"{pct(lat, 0.99) * 1000:,.0f}" if lat else "-"
        cpu = run.cpu_s * 1e6 / msgs if msgs else 0.0
        print(
            f"| {run.label:<26} | {statistics.median(rates):>12,.0f} | {min(rates):>9,.0f} | {p50:>18} | "
            f"{p99:>6} | {cpu:>10,.0f} | {ratio:>5.2f} |"
        )
    print()
    print("ratio: median msg/s against the content-off run (pull + store + normalise). CPU µs/msg is the")
    print(
        "service process's CPU time (executor included) over the measured rounds divided by their messages."
    )
    print("p99 over a handful of rounds is the worst round; run more rounds for a steadier tail.")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=3000, help="archive messages per round (≤ 20,000)")
    p.add_argument(
        "--rounds", type=int, default=5, help=f"measured rounds per run (warm-up excluded, ≤ {MAX_ROUNDS})"
    )
    p.add_argument("--warmup", type=int, default=1, help="rounds before measuring (caches, JIT of regexes)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a round may take")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--service-cpu", type=int, default=0, help="core the service is pinned to (-1: not pinned)"
    )
    p.add_argument(
        "--bench-cpu", type=int, default=1, help="core this process and the simulator use (-1: any)"
    )
    p.add_argument("--no-baseline", action="store_true", help="skip the content-off run")
    p.add_argument(
        "--no-filler", action="store_true", help="do not mix in LCCC chit-chat from ../shared/eval"
    )
    p.add_argument("--profile", action="store_true", help="py-spy the service during the content-on run")
    p.add_argument("--sql", action="store_true", help="count the service's SQL statements per message")
    p.add_argument("--top", type=int, default=25, help="profile lines to print")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (databases, logs)")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--content", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve is None:
        if not 1 <= args.messages <= MAX_MESSAGES:
            p.error(f"--messages must be 1..{MAX_MESSAGES}")
        if not 1 <= args.warmup + args.rounds <= MAX_ROUNDS:
            p.error(f"--warmup + --rounds must be 1..{MAX_ROUNDS}")
    args.service_cpu = None if args.service_cpu < 0 else args.service_cpu
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve is not None:
        return serve(args.serve, args.content == "on", args.service_cpu)
    cpus = sorted(os.sched_getaffinity(0))
    if args.bench_cpu >= 0 and args.bench_cpu in cpus:
        os.sched_setaffinity(0, {args.bench_cpu})  # the simulator thread and the polling
    filler = [] if args.no_filler else load_filler()
    print(
        f"service pinned to CPU {args.service_cpu if args.service_cpu is not None else 'any'} "
        f"(os.sched_setaffinity, all its threads: uvicorn, worker, SQLite); this process and the "
        f"simulator on CPU {args.bench_cpu}; {len(cpus)} CPUs; "
        f"filler: {len(filler):,} LCCC texts" + ("" if filler else " (none)")
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        runs = [run_rounds("content on", args, True, tmp, filler)]
        if not args.no_baseline:
            runs.append(run_rounds("content off", args, False, tmp, filler))
        print_table(runs, args)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
