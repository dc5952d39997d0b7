"""Open a page in headless Chromium, collect its console errors, take a screenshot.

Talks the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (file descriptors 3 and 4,
NUL-separated JSON), so it needs no websocket library and opens no port. What counts as a failure:
an uncaught exception, a ``console.error``/``console.assert``, an error entry of the browser's log
(a failed load, a blocked resource), any request that leaves the machine (a self-contained page
makes none: only ``file:``, ``data:``, ``about:`` and ``blob:`` URLs are allowed), and an image that
did not decode (a broken data URI logs nothing, so the images are checked one by one).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # resolve nothing: a page that reaches out fails here, offline
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
IMAGES_BROKEN_JS = "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length"


class BrowserError(RuntimeError):
    """Chromium could not be started or did not answer."""


@dataclass
class PageCheck:
    url: str
    errors: list[str] = field(default_factory=list)
    images: int = 0
    height_px: int = 0
    screenshot: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _above(fd: int, low: int) -> int:
    """``fd`` moved to the lowest free descriptor >= ``low`` (the original is closed)."""
    import fcntl

    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)
    os.close(fd)
    return new


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _Cdp:
    """A minimal DevTools client over the pipe: ``call`` waits for its answer, events pile up."""

    def __init__(self, proc: subprocess.Popen, write_fd: int, read_fd: int) -> None:
        self.proc = proc
        self._w = write_fd
        self._next = 0
        self._answers: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, args=(read_fd,), daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        buf = b""
        with os.fdopen(fd, "rb", buffering=0) as f:
            while True:
                chunk = f.read(65536)
                if not chunk:
                    self._answers.put(None)
                    return
                buf += chunk
                *msgs, buf = buf.split(b"\0")
                for raw in msgs:
                    msg = json.loads(raw)
                    if "id" in msg:
                        self._answers.put(msg)
                    else:
                        with self._lock:
                            self.events.append(msg)

    def call(
        self, method: str, params: dict | None = None, session: str | None = None, timeout_s: float = 30.0
    ):
        self._next += 1
        msg: dict = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                ans = self._answers.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise BrowserError(f"no answer to {method} within {timeout_s:.0f} s") from None
            if ans is None:
                raise BrowserError(f"chromium closed the pipe during {method} (exit {self.proc.poll()})")
            if ans.get("id") != self._next:
                continue  # a late answer to an earlier call that timed out
            if "error" in ans:
                raise BrowserError(f"{method}: {ans['error'].get('message')}")
            return ans.get("result", {})

    def wait_event(self, method: str, timeout_s: float) -> dict | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                for e in self.events:
                    if e.get("method") == method:
                        return e
            time.sleep(0.05)
        return None


def _describe(event: dict) -> str | None:
    """One line for an event that makes the page fail, None for the harmless ones."""
    m, p = event.get("method"), event.get("params", {})
    if m == "Runtime.exceptionThrown":
        d = p.get("exceptionDetails", {})
        text = d.get("exception", {}).get("description") or d.get("text")
        return f"uncaught exception: {text} ({d.get('url', '')}:{d.get('lineNumber', '?')})"
    if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
        return f"console.{p['type']}: {args}"
    if m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
        e = p["entry"]
        return f"log error ({e.get('source')}): {e.get('text')} {e.get('url', '')}".rstrip()
    if m == "Network.requestWillBeSent":
        url = p.get("request", {}).get("url", "")
        if not url.startswith(LOCAL_SCHEMES):
            return f"network request: {url}"
    if m == "Network.loadingFailed" and not p.get("canceled"):
        return f"load failed: {p.get('errorText')} (request {p.get('requestId')})"
    return None


def check_page(
    page: str | Path,
    screenshot: str | Path | None = None,
    width: int = 1280,
    max_height: int | None = None,
    chromium: str | None = None,
    timeout_s: float = 60.0,
    settle_s: float = 0.5,
) -> PageCheck:
    """Load ``page`` (a local HTML file) in headless Chromium and report what went wrong; with
    ``screenshot``, write a PNG of the page (its full height, or ``max_height`` CSS pixels)."""
    exe = chromium or find_chromium()
    if exe is None:
        raise BrowserError("no chromium found (Debian: apt-get install chromium)")
    url = Path(page).resolve().as_uri()
    result = PageCheck(url)
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    # the child's ends above fd 9, so the shell's "3<&N 4>&M" never reads an fd it already replaced
    to_child_r, from_child_w = (_above(fd, 10) for fd in (to_child_r, from_child_w))
    with tempfile.TemporaryDirectory(prefix="sf-chromium-") as profile:
        args = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900", "about:blank"]
        # the protocol pipe must be fds 3 (commands in) and 4 (answers out) of the browser
        shell = f'exec "$@" 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-'
        log = open(Path(profile) / "stderr.log", "w+")
        proc = subprocess.Popen(
            ["bash", "-c", shell, "chromium", exe, *args],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        cdp = _Cdp(proc, to_child_w, from_child_r)
        try:
            targets = cdp.call("Target.getTargets", timeout_s=timeout_s)["targetInfos"]
            pages = [t["targetId"] for t in targets if t.get("type") == "page"]
            target = (
                pages[0] if pages else cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            )
            sid = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                cdp.call(f"{domain}.enable", session=sid)
            cdp.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                session=sid,
            )
            nav = cdp.call("Page.navigate", {"url": url}, session=sid)
            if nav.get("errorText"):
                result.errors.append(f"navigation failed: {nav['errorText']}")
            elif cdp.wait_event("Page.loadEventFired", timeout_s) is None:
                result.errors.append(f"page did not finish loading within {timeout_s:.0f} s")
            time.sleep(settle_s)  # late console messages
            broken = cdp.call(
                "Runtime.evaluate", {"expression": IMAGES_BROKEN_JS, "returnByValue": True}, sid
            )
            n_img = cdp.call(
                "Runtime.evaluate", {"expression": "document.images.length", "returnByValue": True}, sid
            )
            result.images = int(n_img.get("result", {}).get("value", 0))
            n_broken = int(broken.get("result", {}).get("value", 0))
            if n_broken:
                result.errors.append(f"{n_broken} of {result.images} images did not decode")
            size = cdp.call("Page.getLayoutMetrics", session=sid)["cssContentSize"]
            result.height_px = int(size["height"])
            if screenshot is not None:
                h = result.height_px if max_height is None else min(result.height_px, max_height)
                shot = cdp.call(
                    "Page.captureScreenshot",
                    {
                        "format": "png",
                        "captureBeyondViewport": True,
                        "clip": {"x": 0, "y": 0, "width": width, "height": h, "scale": 1},
                    },
                    session=sid,
                    timeout_s=timeout_s,
                )
                out = Path(screenshot)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(base64.b64decode(shot["data"]))
                result.screenshot = out
            with cdp._lock:
                events = list(cdp.events)
            result.errors += [e for e in map(_describe, events) if e]
            try:
                cdp.call("Browser.close", timeout_s=10)
            except BrowserError:
                pass
        except BrowserError as exc:
            log.seek(0)
            raise BrowserError(f"{exc}\nchromium output:\n{log.read()[-3000:]}") from None
        finally:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(to_child_w)
            log.close()
    return result
