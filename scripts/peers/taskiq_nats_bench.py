"""Measures taskiq-nats on this machine the way `aria bench` measures Aria, for a same-day comparison.

taskiq-nats is the peer the issues set Aria's speed targets against. Its figures drift with the machine as
Aria's do, so this script measures it on the spot: `scripts/peers/taskiq-nats.sh` runs it in a virtualenv.

- A: one-step jobs (`echo`), in a burst and one at a time. B: three-step chains, each step kicking the next.
- Broker: `PullBasedJetStreamBroker` on a file-backed JetStream stream (durable, like Aria's bus), served by
  a nats-server this script starts on a free loopback port; 2 worker processes (`taskiq worker`).
- Latency is on the client's clock, from just before the publish to the receipt of the job's completion.
  The last step publishes that completion on a core NATS subject: taskiq keeps no per-step state, so this
  is the leanest completion it can report (its result backends are polled).

Run as `python taskiq_nats_bench.py --jobs 2000 --sequential 2000 --chains 200 --sequential-chains 200`.
With `--module` it is the tasks' module, which the workers import.
"""

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from nats.js.api import StreamConfig, StorageType
from taskiq_nats import PullBasedJetStreamBroker

NATS_URL = os.environ.get("TASKIQ_BENCH_NATS_URL", "nats://127.0.0.1:4222")

broker = PullBasedJetStreamBroker(
    servers=NATS_URL,
    subject="taskiq_bench",
    stream_name="taskiq_bench",
    durable="taskiq_bench_workers",
    stream_config=StreamConfig(storage=StorageType.FILE),
)


@broker.task
async def echo(job_id: str) -> str:
    """One-step job: reports its completion."""
    await broker.client.publish("bench.done", job_id.encode())
    return job_id


@broker.task
async def chain_step(job_id: str, step: int) -> None:
    """A step of a three-step chain: kicks the next one, or reports the chain's completion."""
    if step < 3:
        await chain_step.kiq(job_id, step + 1)
    else:
        await broker.client.publish("bench.done", job_id.encode())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class Waiter:
    """Maps completion messages to the futures of the jobs that wait for them."""

    def __init__(self) -> None:
        self.pending: dict[str, asyncio.Future] = {}

    async def on_message(self, msg) -> None:
        future = self.pending.pop(msg.data.decode(), None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())


async def run_scenario(name: str, waiter: Waiter, count: int, kick, concurrent: bool) -> None:
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    started = time.perf_counter()

    async def one(i: int) -> None:
        job_id = f"{name}-{i}"
        future = loop.create_future()
        waiter.pending[job_id] = future
        t0 = time.perf_counter()
        await kick(job_id)
        done = await asyncio.wait_for(future, timeout=60)
        latencies.append((done - t0) * 1000)

    if concurrent:
        await asyncio.gather(*(one(i) for i in range(count)))
    else:
        for i in range(count):
            await one(i)
    wall = time.perf_counter() - started
    print(
        f"| {name} | {count} | {wall:.2f} s | {count / wall:.0f} | {statistics.median(latencies):.1f} ms"
        f" | {percentile(latencies, 90):.1f} ms | {percentile(latencies, 99):.1f} ms | {max(latencies):.1f} ms |",
        flush=True,
    )


async def client(args) -> None:
    await broker.startup()
    # Ready when every worker process has a pull request waiting on the consumer.
    while (await broker.js.consumer_info("taskiq_bench", "taskiq_bench_workers")).num_waiting < args.workers:
        await asyncio.sleep(0.05)
    waiter = Waiter()
    await broker.client.subscribe("bench.done", cb=waiter.on_message)
    await broker.client.flush()
    print("| scenario | jobs | wall time | jobs/s | p50 | p90 | p99 | max |")
    print("|---|---|---|---|---|---|---|---|")
    await run_scenario("warm-up", waiter, 200, lambda j: echo.kiq(j), True)
    await run_scenario("A burst: one-step echo", waiter, args.jobs, lambda j: echo.kiq(j), True)
    await run_scenario("A one at a time", waiter, args.sequential, lambda j: echo.kiq(j), False)
    await run_scenario("B burst: 3-step chain", waiter, args.chains, lambda j: chain_step.kiq(j, 1), True)
    await run_scenario("B one at a time", waiter, args.sequential_chains, lambda j: chain_step.kiq(j, 1), False)
    await broker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--sequential-chains", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="taskiq-bench-")
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["nats-server", "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", directory],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    env = dict(os.environ, TASKIQ_BENCH_NATS_URL=url)
    os.environ["TASKIQ_BENCH_NATS_URL"] = url
    workers = None
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        broker.servers = url  # type: ignore[misc]
        here = os.path.dirname(os.path.abspath(__file__))
        workers = subprocess.Popen(
            [sys.executable, "-m", "taskiq", "worker", "taskiq_nats_bench:broker",
             "--workers", str(args.workers), "--log-level", "WARNING"],
            cwd=here, env=dict(env, PYTHONPATH=here),
        )
        print(f"taskiq-nats, {args.workers} worker processes, nats-server on {url} (JetStream, file storage)")
        asyncio.run(client(args))
    finally:
        if workers is not None:
            workers.terminate()
            workers.wait()
        server.terminate()
        server.wait()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
