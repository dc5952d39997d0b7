"""The fusion pipeline in a process of its own (``worker: process``).

Why a process: in one process the executor thread's callbacks and the fusion step share the GIL,
and a fusion step that waits for it mid-frame is slower live than offline. A separate interpreter
never waits for the executor's GIL, and a worker that crashes (a native kernel's segfault) does not
take the node down. Measured on the 2-core VM it is *not* faster: the live frame's CPU time, not
its waiting, is what grows (docs/benchmarks.md, session 8), so ``thread`` stays the default.

Data path: the node's callbacks still only queue the serialized bytes (bounded per sensor, as in
thread mode); a node thread forwards them over a pipe (:func:`_widen`: about 1 ms for a 1.5 MB
cloud, 7.5 ms for 3.7 MB; shared memory would cost a memcpy, not built); the worker parses them
(``ros/cdr.py`` views the received buffer), fuses, and
sends back each output message serialized, which the node publishes as bytes. Diagnostics come
back with the outputs. A worker that dies is logged and started again (its tracks are lost; the new
one's UUIDs come from a new namespace); the node keeps running.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from multiprocessing.connection import Connection

from rclpy.serialization import serialize_message

from ..pipeline import FusionPipeline
from . import convert, outputs
from .inputs import attach_intrinsics, decode_input, input_specs, raw_parser
from .tf import TFMessage

log = logging.getLogger(__name__)

MAX_RESTARTS = 5  # a worker that keeps dying (a bad weights file, a crashing kernel) is not respawned forever
DIAG_PERIOD_S = 0.5  # how often the worker sends its counters back


_last_warned: dict[str, float] = {}


def _warn_throttled(key: str, period_s: float, fmt: str, *args, level: int = logging.WARNING) -> None:
    """One line per ``key`` and ``period_s`` (a flood of bad input must not flood the log)."""
    now = time.monotonic()
    if now - _last_warned.get(key, -1e9) >= period_s:
        _last_warned[key] = now
        log.log(level, fmt, *args)


def _decoders(cfg):
    """sensor -> (parse bytes, decode message) for every input but CameraInfo."""

    def nonfinite(sensor: str, n: int) -> None:
        _warn_throttled(f"nonfinite {sensor}", 5.0, "%s: dropped %d non-finite points", sensor, n)

    return {
        spec.sensor: (raw_parser(spec), spec.decode)
        for spec in input_specs(cfg, nonfinite)
        if not spec.camera_info
    }


class WorkerStartError(RuntimeError):
    """The worker process could not build its pipeline (bad weights, config): the node cannot run."""


class _Worker:
    """The child's side: decode, fuse, serialize the outputs."""

    def __init__(self, cfg, calibration, outbox: Connection, uuid_ns: bytes):
        self.cfg, self.outbox, self.uuid_ns = cfg, outbox, uuid_ns
        t0 = time.monotonic()
        self.pipeline = FusionPipeline(cfg, calibration)
        self.pipeline.warm_up()
        self.warm_s = time.monotonic() - t0
        self.decoders = _decoders(cfg)
        self.intrinsics: dict[str, object] = {}
        self.wanted: dict[str, bool] = {}
        self.sensors: dict[str, dict] = defaultdict(lambda: {"decode_errors": 0, "frame_id": ""})
        self.frames = self.failed = self.last_tracks = 0
        self.last_input = time.monotonic()
        self._last_diag = 0.0

    def push(self, sensor: str, payload: bytes) -> None:
        s = self.sensors[sensor]
        try:
            item = decode_input(payload, *self.decoders[sensor], s)
        except Exception as exc:  # any malformed input is dropped, never fatal
            s["decode_errors"] += 1
            _warn_throttled(f"malformed {sensor}", 2.0, "%s: dropped malformed message: %s", sensor, exc)
            return
        self.pipeline.push(sensor, attach_intrinsics(sensor, item, self.intrinsics))

    def step(self) -> None:
        pipe = self.pipeline
        try:
            idle = time.monotonic() - self.last_input > self.cfg.idle_flush_s
            pipe.fuse(*pipe.take_ready(idle), self._send_ego, self._send_frame)
        except Exception as exc:  # a failing stage must not stop the node
            self.failed += 1
            _warn_throttled("step", 2.0, "fusion step failed: %r", exc, level=logging.ERROR)
        if time.monotonic() - self._last_diag >= DIAG_PERIOD_S:
            self.send_diagnostics()

    def _send_frame(self, out) -> None:
        self.frames += 1
        self.last_tracks = len(out.tracks)
        msgs = outputs.frame_messages(
            out, self.uuid_ns, self.cfg, lambda topic: self.wanted.get(topic, False)
        )
        self.outbox.send(("pub", [(topic, serialize_message(m)) for topic, m in msgs]))

    def _send_ego(self, e) -> None:
        c = self.cfg
        want_tf = c["publish_tf_odom"] or c["publish_tf_map"]
        tf = want_tf and TFMessage is not None  # as the node creates its /tf publisher
        msgs = outputs.ego_messages(e, c, tf=tf)
        self.outbox.send(("ego", [(topic, serialize_message(m)) for topic, m in msgs]))

    def send_diagnostics(self) -> None:
        self._last_diag = time.monotonic()
        self.outbox.send(
            (
                "diag",
                {
                    "pipeline": self.pipeline.diagnostics(),
                    "frames": self.frames,
                    "last_tracks": self.last_tracks,
                    "failed_frames": self.failed,
                    "sensors": {k: dict(v) for k, v in self.sensors.items()},
                },
            )
        )


def worker_main(cfg, calibration, inbox: Connection, outbox: Connection, uuid_ns: bytes) -> None:
    """The child process: build and warm the pipeline, then read inputs until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the node, which stops us in order
    logging.basicConfig(level=logging.INFO, format="[fusion worker] %(levelname)s %(name)s: %(message)s")
    try:
        w = _Worker(cfg, calibration, outbox, uuid_ns)
    except Exception as exc:
        outbox.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    outbox.send(("ready", w.warm_s))
    w.send_diagnostics()  # the node's first /diagnostics has counters to show
    while True:
        if inbox.poll(0.1):
            while inbox.poll():  # everything queued, in arrival order, before fusing
                kind, *rest = inbox.recv()
                if kind == "msg":
                    w.push(rest[0], inbox.recv_bytes())
                    w.last_input = time.monotonic()
                elif kind == "info":
                    w.intrinsics[rest[0]] = rest[1]
                elif kind == "wanted":
                    w.wanted = rest[0]
                elif kind == "stop":
                    w.send_diagnostics()
                    outbox.send(("stopped",))
                    return
        w.step()


def _widen(conn: Connection) -> None:
    """Give the input pipe the host's largest buffer (Linux F_SETPIPE_SZ, usually 1 MB): with the
    default 64 kB a 1.5 MB cloud crossed in 3.0 ms of context switches on 2 cores, with 1 MB in 1.1 ms
    (3.7 MB: 14 -> 7.5 ms; spawned child echoing the length, medians of 50)."""
    try:
        import fcntl

        with open("/proc/sys/fs/pipe-max-size") as f:
            size = int(f.read())
        fcntl.fcntl(conn.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ValueError, ImportError):
        pass  # not Linux, or not allowed: the default buffer works, slower


class WorkerProcess:
    """The node's handle on the worker process: forward inputs, hand its outputs to callbacks.

    ``on_publish(kind, [(topic, bytes), ...])`` runs on this handle's reader thread for every frame
    (kind ``pub``) and ego output (``ego``); ``on_diag(dict)`` for each counters report.
    """

    def __init__(
        self,
        cfg,
        calibration,
        uuid_ns: bytes,
        on_publish: Callable[[str, list], None],
        on_diag: Callable[[dict], None],
        logger,
    ):
        self._args = (cfg, calibration, uuid_ns)
        self._on_publish, self._on_diag, self._log = on_publish, on_diag, logger
        self._ctx = mp.get_context("spawn")  # fork would copy the node's DDS threads' locks
        self._send_lock = threading.Lock()
        self._stopping = False
        self.restarts = 0
        self.warm_s = self._start()
        self._reader = threading.Thread(target=self._read, name="fusion-worker-reader", daemon=True)
        self._reader.start()

    def _start(self) -> float:
        in_r, in_w = self._ctx.Pipe(duplex=False)
        _widen(in_w)
        out_r, out_w = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=worker_main, args=(*self._args[:2], in_r, out_w, self._args[2]), name="fusion-worker"
        )
        proc.daemon = True
        proc.start()
        in_r.close()
        out_w.close()
        self._proc, self._inbox, self._outbox = proc, in_w, out_r
        kind, *rest = out_r.recv()  # the warm-up (numba compile on a cold cache: minutes) or its failure
        if kind != "ready":
            proc.join(timeout=5.0)
            raise WorkerStartError(f"fusion worker process failed to start: {rest[0] if rest else kind}")
        self._log.info(f"fusion worker process {proc.pid} up; pipeline warmed up in {float(rest[0]):.1f} s")
        return float(rest[0])

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def send_input(self, sensor: str, payload: bytes) -> bool:
        """Forward one serialized message; False when the worker is gone (the message is lost)."""
        try:
            with self._send_lock:
                self._inbox.send(("msg", sensor))
                self._inbox.send_bytes(payload)
            return True
        except (OSError, ValueError):
            return False

    def send(self, *item) -> None:
        """A control item: ``("info", camera, intrinsics)``, ``("wanted", {topic: bool})``."""
        try:
            with self._send_lock:
                self._inbox.send(item)
        except (OSError, ValueError):
            pass

    def _read(self) -> None:
        while True:
            try:
                kind, *rest = self._outbox.recv()
            except (EOFError, OSError):
                if self._stopping:
                    return
                self._proc.join(timeout=1.0)
                code = self._proc.exitcode
                if self.restarts >= MAX_RESTARTS:
                    self._log.fatal(
                        f"fusion worker process died (exit code {code}); {MAX_RESTARTS} restarts spent"
                    )
                    return
                self.restarts += 1
                self._log.error(
                    f"fusion worker process died (exit code {code}); restarting ({self.restarts})"
                )
                # the new tracker counts ids from 1 again: a new UUID namespace, so no UUID downstream
                # names two objects
                self._args = (*self._args[:2], convert.new_uuid_namespace())
                try:
                    with self._send_lock:
                        self._start()
                except Exception as exc:
                    self._log.fatal(str(exc))
                    return
                continue
            if kind in ("pub", "ego"):
                self._on_publish(kind, rest[0])
            elif kind == "diag":
                self._on_diag(rest[0])
            elif kind == "stopped":
                return

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self.send("stop")
        self._reader.join(timeout=timeout)
        self._proc.join(timeout=timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=timeout)
