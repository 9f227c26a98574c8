"""A worker in its own process, for tests that kill workers or run several at once.

usage: python -m tests.worker_proc DB_URL MODE OUT_FILE [LEASE_S]
  MODE=hang:   records each job it starts in OUT_FILE, then hangs (the test kills it)
  MODE=record: records each job in OUT_FILE, works ~5 ms, until no job is due for 2 s
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from app.db import make_engine, make_sessionmaker
from app.jobs import ClaimedJob
from app.worker import Worker


async def main(url: str, mode: str, out: Path, lease_s: float) -> None:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)

    async def hang(job: ClaimedJob) -> None:
        with out.open("a") as f:
            f.write(f"{job.id} {job.attempts}\n")
        await asyncio.sleep(3600)

    async def record(job: ClaimedJob) -> None:
        with out.open("a") as f:
            f.write(f"{job.id} {os.getpid()}\n")
        await asyncio.sleep(0.005)

    handler = hang if mode == "hang" else record
    worker = Worker(sessions, {"test.job": handler}, concurrency=4, lease_s=lease_s, poll_s=0.05)
    if mode == "hang":
        await worker.run(asyncio.Event())
    else:
        idle_since = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - idle_since < 2.0:
            if await worker._claim_some():
                idle_since = asyncio.get_running_loop().time()
            else:
                await asyncio.sleep(0.02)
        await worker.run_until_idle()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(
        main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 60.0)
    )
