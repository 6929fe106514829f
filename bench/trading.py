"""Trading: bid upload throughput and server memory, 200 concurrent bidders, opening.

Figures (one JSON line each, see bench/common.py for the format):

- ``upload_throughput``: bytes/s of one sealed envelope (``--size``, default 1 GiB; a real
  envelope: random bytes sealed with ``ca_interop.envelopes.seal`` to a bidder and the
  lot's opening certificate) sent by ``web.bidder_client.BidderClient.upload`` (in the
  client's default chunks, ``DEFAULT_CHUNK``, 16 MiB, or ``--chunk``; each hashed by the
  client and verified by the server, the whole file checked at completion, as many chunks
  at once as its round trip calls for: on this loopback one, ``CHUNKS_IN_FLIGHT``) to a
  real uvicorn server process running the app, against the same client loop
  (``send_chunks``) sending the same chunks to a uvicorn process whose app reads the body
  and drops it (the trivial sink), in the same run. They take turns for ``--rounds``
  rounds (5) and each side's median is reported: the speed of either varies by a tenth or
  more from one upload to the next on a small virtual machine. Every server runs with the
  same fixed allocator thresholds (``SERVER_ALLOCATOR``). Target ratio >= 0.7.
- ``upload_throughput_vs_hashing_sink`` (information): the same app rounds against a
  third server taking turns with them, a sink that also computes the whole file's SHA-256
  in a thread as the bytes arrive: how much of the gap to the sink is the hash alone.
- ``upload_peak_rss``: the app server's peak resident memory (VmHWM from /proc) after
  those uploads, against the sink server's. Target value < 150 MB.
- ``concurrent_bidders``: wall seconds for ``--bidders`` (200) bidders each uploading and
  submitting a ``--bid-size`` (20 MiB) envelope all at once (every bid must be accepted,
  with its receipt), against the same uploads to the sink. Target value <= 60 s; p50/p99
  latency per bidder in ``detail``.
- the opening's figure, from ``bench/trading_opening.py`` when that module exists.

Runs on a scratch PostgreSQL database (``--sqlite`` for the embedded default).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from bench.common import (
    POSTGRES_ADMIN_URL,
    Target,
    emit,
    figure,
    percentile,
    progress,
    temporary_postgres,
)

BENCH = "trading"
MIB = 1024 * 1024
REPO = Path(__file__).resolve().parents[1]


# --- the trivial sink ---------------------------------------------------------------------


async def sink_app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                   send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """An ASGI app that reads every request body and drops it: the baseline server."""
    if scope["type"] == "lifespan":
        while True:
            kind = (await receive())["type"]
            await send({"type": f"{kind}.complete"})
            if kind == "lifespan.shutdown":
                return
    received = 0
    while True:
        message = await receive()
        received += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b'{"id":"sink","received":%d,"status":"receiving","sha256":""}' % received
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


class _HashingSink:
    """The least a server that keeps its promise must do with an upload's bytes: take the
    body (as the sink does) and compute the SHA-256 of the whole file, off the event loop in
    one thread, the next chunk arriving meanwhile. No write, no check, no record. An
    information baseline: how much of the gap to the sink is the hash alone."""

    BATCH = 2 * MIB  # pieces handed to the thread together, as the platform's batches
    AHEAD = 4  # batches in the thread at most, as the platform's buffers per upload

    def __init__(self) -> None:
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hashing-sink")
        self.hashes: dict[str, Any] = {}
        self.queued: deque[asyncio.Future[None]] = deque()

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] == "lifespan":
            await sink_app(scope, receive, send)
            return
        if b"offset=0" in scope["query_string"].split(b"&"):
            self.hashes[scope["path"]] = hashlib.sha256()
        hasher = self.hashes.setdefault(scope["path"], hashlib.sha256())
        loop = asyncio.get_running_loop()
        pieces: list[bytes] = []
        gathered = received = 0
        while True:
            message = await receive()
            piece = message.get("body", b"")
            pieces.append(piece)
            gathered += len(piece)
            received += len(piece)
            more = message.get("more_body", False)
            if gathered >= self.BATCH or not more:
                batch, pieces, gathered = pieces, [], 0
                self.queued.append(loop.run_in_executor(self.worker, _update_all, hasher, batch))
                while len(self.queued) > self.AHEAD:
                    await self.queued.popleft()
            if not more:
                break
        body = b'{"id":"sink","received":%d,"status":"receiving","sha256":""}' % received
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def _update_all(hasher: Any, pieces: list[bytes]) -> None:
    for piece in pieces:
        hasher.update(piece)


hashing_sink_app = _HashingSink()


# --- servers ------------------------------------------------------------------------------


# Both server processes run with the same fixed glibc allocator thresholds. With glibc's
# sliding mmap threshold, whether uvicorn's ~256 KiB body pieces came from the heap or from
# fresh mappings (a page fault per page touched) depended on what a process had freed
# before: the sink ran either at ~0.6 CPU seconds per GiB (~1,000 MiB/s) or at ~0.2
# (~2,000 MiB/s), a whole run long, and the ratio with it. Fixed thresholds keep every
# such piece on the heap, so the baseline is the sink's real speed. (They change nothing
# measurable for the app: 1.0 CPU s/GiB either way.)
SERVER_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(4 * 1024 * 1024), "MALLOC_TRIM_THRESHOLD_": str(128 * 1024 * 1024)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc status")


@asynccontextmanager
async def uvicorn_process(target: str, env: dict[str, str], factory: bool,
                          profile: Path | None = None) -> AsyncIterator[tuple[str, int]]:
    """A uvicorn process serving ``target``; with ``profile``, its event loop runs under
    cProfile and the statistics land in that file when it stops."""
    port = _free_port()
    runner = ["-m", "cProfile", "-o", str(profile)] if profile else []
    command = [sys.executable, *runner, "-m", "uvicorn", target, "--port", str(port), "--log-level", "warning",
               "--no-access-log", "--timeout-keep-alive", "30"]
    if factory:
        command.insert(len(runner) + 3, "--factory")
    process = subprocess.Popen(command, env={**os.environ, **SERVER_ALLOCATOR, **env}, cwd=REPO,
                               stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(300):
                try:
                    await probe.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"{target} did not start")
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the platform side: a lot and its bidders ---------------------------------------------


@dataclass
class Scene:
    data_dir: Path
    lot: dict[str, Any]
    bidders: list[tuple[str, Any]]  # (session token, BidderCredentials)
    env: dict[str, str]


async def build_scene(url: str, work: Path, bidders: int) -> Scene:
    """A trusted CA, ``bidders`` bidders with certificates and tokens, one lot accepting bids,
    and the server's TSA and CRL mirror files."""
    from argon2 import PasswordHasher

    from ca_interop.demo_pki import DemoCA, Usage
    from ca_interop.demo_pki_set import crl_mirror_path
    from ca_interop.opening_keys import create_opening_key
    from core.actors import SYSTEM, Role
    from core.clock import utcnow
    from core.database import Database
    from core.uscc import make_uscc
    from identities import passwords, service, trust_service
    from identities.schemas import PartyCreate, UserCreate
    from identities.trust_schemas import TrustedCACreate
    from trading.models import Lot, Project
    from web.bidder_client import BidderCredentials

    passwords._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # throwaway users
    data = work / "server"
    tsa_ca = DemoCA.create("Bench TSA CA", "ecdsa")
    tsa = tsa_ca.issue("Bench TSA", usage=Usage.TIMESTAMPING)
    (data / "tsa").mkdir(parents=True)
    (data / "tsa" / "tsa.key").write_bytes(tsa.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (data / "tsa" / "chain.pem").write_bytes(tsa.cert_pem + tsa_ca.cert_pem)
    ca = DemoCA.create("Bench Bidder CA", "ecdsa")
    mirror = crl_mirror_path(data / "pki" / "crl", ca.crl_url)
    mirror.parent.mkdir(parents=True)
    mirror.write_bytes(ca.crl_der())
    database = Database(url)
    now = utcnow()
    people: list[tuple[str, Any]] = []
    async with database.transaction() as session:
        await trust_service.add_trusted_ca(session, SYSTEM, TrustedCACreate(name=ca.name, certificate_pem=ca.cert_pem.decode()))
        tenderer = await service.register_party(session, SYSTEM, PartyCreate(uscc=make_uscc("91350100MA9000000"),
                                                                              name="Bench Tenderer"))
        project = Project(code="BENCH-0001", title="Bench project", segment="construction", procedure="open_tender",
                          tenderer_party_id=tenderer.id, region_code="350100", industry="construction",  # type: ignore[arg-type]
                          status="active", created_at=now, updated_at=now)
        session.add(project)
        await session.flush()
        deadline = now + timedelta(days=20)
        custodian_ca = DemoCA.create("Bench Custodian CA", "ecdsa")
        custodians = [custodian_ca.issue(f"Custodian {i}", usage=Usage.ENCRYPTION).cert for i in range(3)]
        record = create_opening_key(custodians=custodians, threshold=2, lot_reference="BENCH-0001-L01",
                                    not_after=deadline + timedelta(days=60))
        lot = Lot(project_id=project.id, number=1, code="BENCH-0001-L01", title="Lot 1",  # type: ignore[arg-type]
                  budget=Decimal("12500000.00"), ceiling_price=Decimal("12000000.00"),
                  evaluation_method="comprehensive_scoring", evaluation_parameters={"price_weight": "30"},
                  bid_bond_amount=Decimal("200000.00"), min_bidders=3, custodian_fallback=True,
                  opening_key=record.to_dict(), opening_certificate_fingerprint=record.certificate_fingerprint,
                  documents_from=now, documents_until=deadline, bid_deadline=deadline, opening_at=deadline,
                  status="bidding", created_at=now, updated_at=now)
        session.add(lot)
        await session.flush()
        lot_view = {"id": lot.id, "code": lot.code, "opening_certificate_pem": record.certificate_pem.decode(),
                    "opening_certificate_fingerprint": record.certificate_fingerprint}
        for n in range(bidders):
            party = await service.register_party(session, SYSTEM, PartyCreate(
                uscc=make_uscc(f"91350100MA{n:07d}"), name=f"Bench Bidder {n}"))
            user = await service.create_user(session, SYSTEM, UserCreate(
                username=f"bench{n}", display_name=f"Bidder {n}", password="bench password 1", roles=[Role.BIDDER],
                party_id=party.id))
            _, token = await service.sign_in(session, user.username, "bench password 1", source_address=None, hours=4)
            signing = ca.issue(party.name, usage=Usage.SIGNING, uscc=party.uscc, organization=party.name)
            encryption = ca.issue(party.name, usage=Usage.ENCRYPTION, uscc=party.uscc, organization=party.name)
            people.append((token, BidderCredentials(signing.key_pem, signing.cert_pem, encryption.cert_pem)))
    await database.dispose()
    env = {"BIDHALL_DATABASE_URL": url, "BIDHALL_DATA_DIR": str(data),
           "BIDHALL_TSA_KEY_FILE": str(data / "tsa" / "tsa.key"), "BIDHALL_TSA_CERT_FILE": str(data / "tsa" / "chain.pem"),
           "BIDHALL_LOG_LEVEL": "WARNING", "BIDHALL_MAX_BID_BYTES": str(64 * 1024**3)}
    return Scene(data, lot_view, people, env)


class _Random:
    """A file-like source of ``size`` random bytes, so sealing needs no plaintext file."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readinto(self, buffer: memoryview) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = os.urandom(count)
        self.left -= count
        return count

    def read(self, size: int = -1) -> bytes:
        count = self.left if size < 0 else min(size, self.left)
        self.left -= count
        return os.urandom(count)


def seal_random(size: int, credentials: Any, lot: dict[str, Any], destination: Path) -> str:
    """A real envelope of ``size`` random plaintext bytes; returns its SHA-256."""
    from ca_interop.envelopes import seal

    seal(_Random(size), [credentials.encryption_cert_pem, lot["opening_certificate_pem"].encode()], destination,  # type: ignore[arg-type]
         size=size)
    hasher = hashlib.sha256()
    with destination.open("rb") as source:
        while block := source.read(8 * MIB):
            hasher.update(block)
    return hasher.hexdigest()


# --- the figures --------------------------------------------------------------------------


def _client(url: str, token: str, credentials: Any) -> Any:
    from web.bidder_client import BidderClient

    client = BidderClient(url, http=httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(300, connect=30)))
    client.use_session(token, credentials)
    return client


async def _sink_upload(url: str, path: Path, chunk: int) -> None:
    """The baseline: the client's chunk loop (read ahead and hash, as many chunks in
    flight as the client sends on a short round trip, PUT) against the sink."""
    from web.bidder_client import CHUNKS_IN_FLIGHT, ChunkReader, send_chunks

    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(300, connect=30)) as http:
        async with ChunkReader(path, chunk) as reader:
            async def put(offset: int, data: bytes, digest: str) -> dict[str, Any]:
                response = await http.put("/uploads/sink", params={"offset": offset}, content=data,
                                          headers={reader.header: digest, "content-type": "application/octet-stream"})
                response.raise_for_status()
                return response.json()  # type: ignore[no-any-return]

            await send_chunks(reader, 0, path.stat().st_size, put, CHUNKS_IN_FLIGHT)


async def upload_figures(scene: Scene, work: Path, size: int, chunk: int, rounds: int,
                         profile: Path | None = None) -> list[dict[str, Any]]:
    """The sink and the app take turns (sink, app, sink, app, ...) for ``rounds`` rounds, so
    that a slow spell of the machine (its disk, a neighbour) weighs on both alike; each
    figure is the median of its rounds."""
    token, credentials = scene.bidders[0]
    envelope = work / "big.p7m"
    progress(f"sealing {size / MIB:.0f} MiB of random bytes")
    started = time.perf_counter()
    sha256 = await asyncio.to_thread(seal_random, size, credentials, scene.lot, envelope)
    progress(f"sealed in {time.perf_counter() - started:.1f}s")
    actual = envelope.stat().st_size
    sink_runs: list[tuple[float, float]] = []  # (seconds, server CPU seconds) per round
    hashing_runs: list[tuple[float, float]] = []
    app_runs: list[tuple[float, float]] = []
    async with uvicorn_process("bench.trading:sink_app", {}, factory=False) as (sink_url, sink_pid), \
            uvicorn_process("bench.trading:hashing_sink_app", {}, factory=False) as (hashing_url, hashing_pid), \
            uvicorn_process("web.app:app_from_environment", scene.env, factory=True,
                            profile=profile) as (url, pid):
        client = _client(url, token, credentials)
        idle_rss = peak_rss_bytes(pid)
        for round_number in range(1, rounds + 1):
            sink_runs.append(await _timed(sink_pid, _sink_upload(sink_url, envelope, chunk)))
            hashing_runs.append(await _timed(hashing_pid, _sink_upload(hashing_url, envelope, chunk)))
            upload: dict[str, Any] = {}

            async def app_upload() -> None:
                upload.update(await client.upload(scene.lot["id"], envelope, chunk_size=chunk, sha256=sha256))

            app_runs.append(await _timed(pid, app_upload()))
            assert upload["status"] == "complete", upload
            progress(f"round {round_number}: sink {actual / sink_runs[-1][0] / MIB:.0f} MiB/s, "
                     f"hashing sink {actual / hashing_runs[-1][0] / MIB:.0f} MiB/s, "
                     f"app {actual / app_runs[-1][0] / MIB:.0f} MiB/s")
        peak, sink_rss = peak_rss_bytes(pid), peak_rss_bytes(sink_pid)
        started = time.perf_counter()
        submitted = await client.submit(scene.lot, upload)
        submit_seconds = time.perf_counter() - started
        assert await client.verify_receipt(submitted["receipt"]) == []
        await client.aclose()
    envelope.unlink()
    seconds, sink_seconds = statistics.median(run[0] for run in app_runs), statistics.median(run[0] for run in sink_runs)
    hashing_seconds = statistics.median(run[0] for run in hashing_runs)
    progress(f"app: {actual / seconds / MIB:.0f} MiB/s (median of {rounds}), peak RSS {peak / MIB:.0f} MiB")
    note_size = f"{actual} bytes ({actual / MIB:.0f} MiB)"
    return [
        figure(BENCH, "upload_throughput", value=actual / seconds, unit="bytes/s", baseline=actual / sink_seconds,
               target=Target("ratio", ">=", 0.7),
               note=f"a real sealed envelope of {note_size} uploaded by BidderClient.upload in {chunk // MIB} MiB "
                    "chunks through uvicorn + the app (create, chunks verified by XXH3-128, the file's SHA-256 "
                    "checked at completion, written to the disk), against the same client loop PUTting the "
                    f"same chunks to a uvicorn sink app; medians of {rounds} alternating rounds",
               detail={"seconds": round(seconds, 3), "sink_seconds": round(sink_seconds, 3),
                       "app_mib_per_s": [round(actual / run[0] / MIB) for run in app_runs],
                       "sink_mib_per_s": [round(actual / run[0] / MIB) for run in sink_runs],
                       "server_cpu_seconds": round(statistics.median(run[1] for run in app_runs), 3),
                       "sink_cpu_seconds": round(statistics.median(run[1] for run in sink_runs), 3),
                       "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
                       "submit_seconds": round(submit_seconds, 3),
                       "envelope": "real: random bytes sealed with ca_interop.envelopes.seal"}),
        figure(BENCH, "upload_throughput_vs_hashing_sink", value=actual / seconds, unit="bytes/s",
               baseline=actual / hashing_seconds, target=None,
               note="information: the same app rounds against a uvicorn sink that also computes the SHA-256 "
                    "of the whole file in a thread as the bytes arrive (no write, no check, no record), in "
                    "the same alternating rounds: how much of the gap to the sink is the hash alone",
               detail={"hashing_sink_mib_per_s": [round(actual / run[0] / MIB) for run in hashing_runs],
                       "hashing_sink_cpu_seconds": round(statistics.median(run[1] for run in hashing_runs), 3)}),
        figure(BENCH, "upload_peak_rss", value=peak / MIB, unit="MiB", baseline=sink_rss / MIB,
               target=Target("value", "<", 150),
               note=f"VmHWM of the app's uvicorn process after {rounds} uploads, against the sink's",
               detail={"rss_after_start_mib": round(idle_rss / MIB, 1)}),
    ]


async def _timed(pid: int, upload: Awaitable[None]) -> tuple[float, float]:
    """Wall seconds of ``upload`` and the CPU seconds the server ``pid`` spent meanwhile."""
    await asyncio.to_thread(os.sync)
    started, cpu = time.perf_counter(), cpu_seconds(pid)
    await upload
    return time.perf_counter() - started, cpu_seconds(pid) - cpu


async def bidders_figure(scene: Scene, work: Path, count: int, bid_size: int, chunk: int) -> dict[str, Any]:
    progress(f"sealing {count} envelopes of {bid_size / MIB:.0f} MiB")
    envelopes: list[tuple[Path, str]] = []
    for n, (_, credentials) in enumerate(scene.bidders[1:count + 1]):
        path = work / f"bid-{n}.p7m"
        envelopes.append((path, await asyncio.to_thread(seal_random, bid_size, credentials, scene.lot, path)))
    await asyncio.to_thread(os.sync)
    async with uvicorn_process("bench.trading:sink_app", {}, factory=False) as (sink_url, _):
        started = time.perf_counter()
        await asyncio.gather(*(_sink_upload(sink_url, path, chunk) for path, _ in envelopes))
        sink_seconds = time.perf_counter() - started
    progress(f"sink: {count} uploads in {sink_seconds:.1f}s")
    latencies: list[float] = []
    failures: list[str] = []
    async with uvicorn_process("web.app:app_from_environment", scene.env, factory=True) as (url, pid):
        async def one(index: int) -> None:
            token, credentials = scene.bidders[1 + index]
            path, sha256 = envelopes[index]
            client = _client(url, token, credentials)
            began = time.perf_counter()
            try:
                upload = await client.upload(scene.lot["id"], path, chunk_size=chunk, sha256=sha256)
                submitted = await client.submit(scene.lot, upload)
                assert submitted["bid"]["status"] == "submitted"
                latencies.append(time.perf_counter() - began)
            except Exception as error:  # noqa: BLE001 - counted and reported
                failures.append(f"bidder {index}: {error}")
            finally:
                await client.aclose()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        seconds = time.perf_counter() - started
        peak = peak_rss_bytes(pid)
    progress(f"app: {len(latencies)} accepted in {seconds:.1f}s; {len(failures)} failed")
    for path, _ in envelopes:
        path.unlink()
    return figure(BENCH, "concurrent_bidders", value=seconds, unit="s", baseline=sink_seconds,
                  target=Target("value", "<=", 60.0) if not failures else Target("value", "<=", -1.0),
                  note=f"{count} bidders at once, each uploading ({chunk // MIB} MiB chunks) and submitting a real "
                       f"{bid_size / MIB:.0f} MiB envelope with its signature, receipt included; against the same "
                       "uploads to the sink. Met only if every bid is accepted within 60 s",
                  detail={"accepted": len(latencies), "failed": len(failures), "failures": failures[:5],
                          "p50_s": round(percentile(latencies, 0.5), 3) if latencies else None,
                          "p99_s": round(percentile(latencies, 0.99), 3) if latencies else None,
                          "max_s": round(max(latencies), 3) if latencies else None,
                          "server_peak_rss_mib": round(peak / MIB, 1)})


# === the opening's figure =================================================================
# The opening concern adds its own figure in bench/trading_opening.py, as
# ``opening_figures(args) -> list[dict]``; it is run here when that module exists.


def opening_figures(args: argparse.Namespace) -> list[dict[str, Any]]:
    if importlib.util.find_spec("bench.trading_opening") is None:
        progress("bench/trading_opening.py is not there yet: no opening figure")
        return []
    from bench import trading_opening

    own = args
    if hasattr(trading_opening, "parse"):  # its options, from ours: as many bids of the same size
        options = ["--bids", str(args.bidders), "--size-mb", str(args.bid_size / 1_000_000)]
        own = trading_opening.parse(options + (["--tmpdir", args.workdir] if args.workdir else []))
    return list(trading_opening.opening_figures(own))


# --- running ------------------------------------------------------------------------------


@asynccontextmanager
async def scratch_database(args: argparse.Namespace, work: Path) -> AsyncIterator[str]:
    if args.sqlite:
        from migrations import runner

        url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
        await asyncio.to_thread(runner.upgrade, url)
        yield url
        return
    async with temporary_postgres(args.postgres_url, prefix="trading") as url:
        yield url


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-trading-", dir=args.workdir) as directory:
        work = Path(directory)
        async with scratch_database(args, work) as url:
            # bidder 0 uploads the big envelope; 1..n are the concurrent bidders
            scene = await build_scene(url, work, 1 + (args.bidders if "bidders" in args.only else 0))
            if "upload" in args.only:
                for record in await upload_figures(scene, work, args.size, args.chunk * MIB, args.rounds,
                                                    args.profile):
                    emit(record)
            if "bidders" in args.only:
                emit(await bidders_figure(scene, work, args.bidders, args.bid_size, args.chunk * MIB))
    if "opening" in args.only:
        for record in opening_figures(args):
            emit(record)
    return 0


def parse_size(text: str) -> int:
    units = {"k": 1024, "m": MIB, "g": 1024 * MIB}
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main(argv: list[str]) -> int:
    from web.bidder_client import DEFAULT_CHUNK

    parser = argparse.ArgumentParser(prog="python -m bench trading", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=1024 * MIB, help="envelope size for upload_throughput (1g)")
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK // MIB,
                        help=f"upload chunk size in MiB (the client's default, {DEFAULT_CHUNK // MIB})")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating sink, hashing sink and app uploads for upload_throughput; medians (5)")
    parser.add_argument("--bidders", type=int, default=200, help="bidders for concurrent_bidders (200)")
    parser.add_argument("--bid-size", type=parse_size, default=20 * MIB, help="each bidder's envelope (20m)")
    parser.add_argument("--only", nargs="+", default=["upload", "bidders", "opening"],
                        choices=["upload", "bidders", "opening"])
    parser.add_argument("--sqlite", action="store_true", help="the embedded SQLite database instead of PostgreSQL")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument("--workdir", default=None, help="where envelopes and the server's files go (a temp dir)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the app server of upload_throughput under cProfile, statistics to this file")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 64 MiB, 20 bidders of 2 MiB")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.bidders, args.bid_size = 64 * MIB, 20, 2 * MIB
    return asyncio.run(run(args))
