"""Open a local HTML file in a real headless Chromium, for tests of hpsearch's HTML reports.

Chromium is driven over the Chrome DevTools Protocol through ``--remote-debugging-pipe``
(JSON messages separated by NUL bytes on file descriptors 3 and 4), with only the standard
library: no websocket, no port, no extra Python package.  The plain command line
(``--screenshot``, ``--dump-dom``, ``--enable-logging``) cannot tell ``console.error`` from
``console.log`` and says nothing when a script fails to load, so it is not used.

What counts as an error on the page (``RenderResult.console_errors``):

* ``console.error(...)`` and failed ``console.assert(...)`` calls;
* uncaught exceptions and unhandled promise rejections;
* errors the browser itself logs (a resource that failed to load, a blocked request, ...);
* any request for something that is not local (``http:``, ``https:``, ``ws:``, ...): a report
  must never load anything from a network.  Host names never resolve in this browser
  (``--host-resolver-rules``), so such a request also fails on a machine that has a network.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = [
    "RenderError",
    "RenderResult",
    "chromium_missing_reason",
    "find_chromium",
    "render",
    "screenshot_stats",
]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BASH = shutil.which("bash") or "/bin/bash"
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-error:", "devtools:")

FLAGS = (
    "--headless=new",
    "--no-sandbox",  # tests run as root, where Chromium refuses to start with its sandbox
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--metrics-recording-only",
    "--mute-audio",
    "--password-store=basic",
    "--use-mock-keychain",
    # No host name resolves: a page that reaches for a network fails the same way everywhere.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
)


class RenderError(RuntimeError):
    """Chromium could not open the page (or did not finish in time)."""


@dataclass
class RenderResult:
    console_errors: list[str]
    """Every error the page caused, one line each (see the module's docstring); empty when clean."""
    screenshot: Path
    """The PNG written: ``width`` x ``height`` pixels of the top of the page."""
    dom: str
    """``document.documentElement.outerHTML`` after the scripts ran."""
    scroll_width: int
    """``document.documentElement.scrollWidth``: how wide the page's content is."""
    client_width: int
    """``document.documentElement.clientWidth``: how wide the window shows it."""
    values: dict[str, Any] = field(default_factory=dict)
    """The results of ``render(..., evaluate=...)``, by name."""
    console_messages: list[str] = field(default_factory=list)
    """Every console call of any level, as ``"level: text"`` (to explain a failure)."""

    @property
    def needs_horizontal_scroll(self) -> bool:
        """True when the page is wider than the window (a horizontal scrollbar would show)."""
        return self.scroll_width > self.client_width


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable: ``$CHROMIUM`` if set, else the first on ``PATH``."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_missing_reason() -> str | None:
    """``None`` when a Chromium is found, else why the browser tests cannot run (for ``pytest.skip``)."""
    if find_chromium():
        return None
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return f"$CHROMIUM is {explicit!r}, which is not an executable"
    return (
        "no headless Chromium found (looked for " + ", ".join(CANDIDATES) + " on PATH, and $CHROMIUM is unset); "
        "install it with `apt-get install -y chromium` (.ci/run does so when apt-get works)"
    )


class _Pipe:
    """A minimal CDP client on the two pipes of ``--remote-debugging-pipe``."""

    def __init__(self, to_browser: int, from_browser: int, process: subprocess.Popen, deadline: float):
        self.to_browser = to_browser
        self.from_browser = from_browser
        self.process = process
        self.deadline = deadline
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []
        self.replies: dict[int, dict] = {}
        self.on_event: Callable[[dict], None] | None = None

    def _read_one(self, waiting_for: str) -> None:
        """Read at least one complete message (or raise on timeout / a browser that went away).

        Events go to ``on_event`` as they are read, which may itself ``send`` (this is re-entrant:
        all the state is on ``self``).
        """
        while b"\0" not in self.buffer:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out waiting for {waiting_for}")
            ready, _, _ = select.select([self.from_browser], [], [], min(remaining, 1.0))
            if not ready:
                if self.process.poll() is not None:
                    raise RenderError(f"Chromium exited with code {self.process.returncode}")
                continue
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RenderError(f"Chromium closed its DevTools pipe (exit code {self.process.poll()})")
            self.buffer += chunk
        while b"\0" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\0", 1)
            message = json.loads(raw)
            if "id" in message:
                self.replies[message["id"]] = message
            else:
                self.events.append(message)
                if self.on_event is not None:
                    self.on_event(message)

    def send(self, method: str, params: Mapping[str, Any] | None = None, session: str | None = None) -> dict:
        """Send one command and return its result (raise ``RenderError`` on a protocol error)."""
        self.next_id += 1
        command_id = self.next_id
        message: dict[str, Any] = {"id": command_id, "method": method, "params": dict(params or {})}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self.to_browser, data)
            data = data[written:]
        while command_id not in self.replies:
            self._read_one(f"Chromium to answer {method}")
        reply = self.replies.pop(command_id)
        if "error" in reply:
            raise RenderError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    def wait_for(self, methods: tuple[str, ...], start: int = 0) -> dict:
        """The first event in ``self.events[start:]`` with one of these ``methods``, waiting for it if need be."""
        index = start
        while True:
            while index < len(self.events):
                event = self.events[index]
                index += 1
                if event.get("method") in methods:
                    return event
            self._read_one(" or ".join(methods))


def _describe(value: Mapping[str, Any]) -> str:
    """A CDP ``RemoteObject`` as the console would print it."""
    if "value" in value:
        return value["value"] if isinstance(value["value"], str) else json.dumps(value["value"])
    if "unserializableValue" in value:
        return str(value["unserializableValue"])
    return str(value.get("description", value.get("type", "?")))


def render(
    html: Path | str,
    screenshot: Path | str,
    width: int = 1280,
    height: int = 2000,
    wait_for_js: str | None = None,
    timeout: float = 60,
    evaluate: Mapping[str, str] | None = None,
) -> RenderResult:
    """Open ``html`` in headless Chromium with a ``width`` x ``height`` window and report what happened.

    Waits for the page's load event, then (if given) until the JavaScript expression
    ``wait_for_js`` is truthy, then for two animation frames so that what the scripts drew is
    painted; then saves a PNG screenshot of the window to ``screenshot``.  ``evaluate`` maps
    names to JavaScript expressions whose values (JSON-serialisable; promises are awaited) come
    back in ``RenderResult.values``.  Errors on the page do not raise: they are listed in
    ``RenderResult.console_errors``.  Raises ``RenderError`` when no Chromium is found, the
    file cannot be opened, the browser dies, or ``timeout`` seconds pass (``wait_for_js`` never
    true included).
    """
    html = Path(html).resolve()
    screenshot = Path(screenshot)
    if not html.is_file():
        raise RenderError(f"no such file: {html}")
    executable = find_chromium()
    if executable is None:
        raise RenderError(chromium_missing_reason())
    deadline = time.monotonic() + timeout

    with tempfile.TemporaryDirectory(prefix="hpsearch-chromium-", ignore_cleanup_errors=True) as profile:
        log_path = Path(profile) / "chromium.log"
        # Our ends: we write commands to ``to_browser`` and read replies from ``from_browser``;
        # Chromium reads fd 3 and writes fd 4.  bash puts the other ends there, then execs it
        # (bash, not sh: dash only redirects file descriptors 0 to 9, and ours may be higher).
        browser_reads, to_browser = os.pipe()
        from_browser, browser_writes = os.pipe()
        args = [
            executable,
            *FLAGS,
            f"--user-data-dir={Path(profile) / 'profile'}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [BASH, "-c", f'exec "$@" 3<&{browser_reads} 4>&{browser_writes}', "bash", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(browser_reads, browser_writes),
                start_new_session=True,
            )
        os.close(browser_reads)
        os.close(browser_writes)
        pipe = _Pipe(to_browser, from_browser, process, deadline)
        try:
            return _drive(pipe, html, screenshot, width, height, wait_for_js, evaluate or {})
        except (RenderError, TimeoutError) as error:
            raise RenderError(f"{error} (opening {html}); Chromium's log ends:\n{_tail(log_path)}") from None
        finally:
            _close(pipe)
            os.close(to_browser)
            os.close(from_browser)


def _drive(
    pipe: _Pipe,
    html: Path,
    screenshot: Path,
    width: int,
    height: int,
    wait_for_js: str | None,
    evaluate: Mapping[str, str],
) -> RenderResult:
    errors: list[str] = []
    messages: list[str] = []
    session: dict[str, str] = {}
    requests: dict[str, str] = {}

    def on_event(event: dict) -> None:
        method = event.get("method")
        params = event.get("params", {})
        if session and event.get("sessionId") not in (None, session.get("id")):
            return
        if method == "Runtime.consoleAPICalled":
            text = " ".join(_describe(arg) for arg in params.get("args", []))
            messages.append(f"{params.get('type')}: {text}")
            if params.get("type") in ("error", "assert"):
                errors.append(f"console.{params.get('type')}: {text}{_where(params.get('stackTrace'))}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception")
            # "Uncaught" (or "Uncaught (in promise)") then the error's first line, e.g. "Error: y".
            text = details.get("text", "Uncaught")
            if exception:
                text += " " + (exception.get("description") or _describe(exception)).splitlines()[0]
            where = f" at {details.get('url', '')}:{details.get('lineNumber', 0) + 1}"
            errors.append(f"exception: {text}{where}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                url = f" ({entry['url']})" if entry.get("url") else ""
                errors.append(f"browser ({entry.get('source')}): {entry.get('text')}{url}")
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            requests[params.get("requestId")] = url
            if not url.startswith(LOCAL_SCHEMES):
                errors.append(f"network request (reports must be self-contained): {url}")
        elif method == "Network.loadingFailed":
            if not params.get("canceled"):
                url = requests.get(params.get("requestId"), "?")
                errors.append(f"failed to load {params.get('type')} {url}: {params.get('errorText')}")
        elif method == "Page.javascriptDialogOpening":
            errors.append(f"dialog ({params.get('type')}): {params.get('message')}")
            # alert(), confirm() and prompt() stop the page's scripts until answered: answer now.
            pipe.send("Page.handleJavaScriptDialog", {"accept": True}, event.get("sessionId"))
        elif method in ("Inspector.targetCrashed", "Target.targetCrashed"):
            errors.append("the page crashed")

    pipe.on_event = on_event
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session["id"] = sid = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def send(method: str, params: Mapping[str, Any] | None = None) -> dict:
        return pipe.send(method, params, sid)

    def js(expression: str) -> Any:
        reply = send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            raise RenderError(f"evaluating {expression!r} threw: {_describe(details.get('exception', details))}")
        return reply.get("result", {}).get("value")

    for domain in ("Page", "Runtime", "Log", "Network"):
        send(f"{domain}.enable")
    send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    start = len(pipe.events)
    navigation = send("Page.navigate", {"url": html.as_uri()})
    if navigation.get("errorText"):
        raise RenderError(f"navigation failed: {navigation['errorText']}")
    pipe.wait_for(("Page.loadEventFired",), start)
    if wait_for_js:
        while not js(f"Boolean({wait_for_js})"):
            if time.monotonic() > pipe.deadline:
                raise TimeoutError(f"timed out waiting until {wait_for_js!r} is true")
            time.sleep(0.05)
    js("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    values = {name: js(expression) for name, expression in evaluate.items()}
    dom = js("document.documentElement.outerHTML")
    scroll_width = js("document.documentElement.scrollWidth")
    client_width = js("document.documentElement.clientWidth")
    shot = send("Page.captureScreenshot", {"format": "png"})
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    # Let the events sent before the screenshot arrive (a console call made during the last frame).
    send("Runtime.evaluate", {"expression": "0"})
    return RenderResult(
        console_errors=errors,
        screenshot=screenshot,
        dom=dom,
        scroll_width=int(scroll_width),
        client_width=int(client_width),
        values=values,
        console_messages=messages,
    )


def _where(stack: Mapping[str, Any] | None) -> str:
    frames = (stack or {}).get("callFrames") or []
    if not frames:
        return ""
    frame = frames[0]
    return f" at {frame.get('url', '')}:{frame.get('lineNumber', 0) + 1}"


def _close(pipe: _Pipe) -> None:
    """Ask Chromium to quit, and kill its whole process group if it has not within a few seconds."""
    process = pipe.process
    if process.poll() is None:
        try:
            pipe.deadline = time.monotonic() + 3
            pipe.send("Browser.close")
        except (RenderError, TimeoutError, OSError, ValueError):
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, 9)  # its own session (start_new_session): renderers and helpers too
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def screenshot_stats(png: Path | str) -> tuple[int, int, int, float]:
    """``(width, height, distinct_colors, non_white_fraction)`` of a PNG: is the picture blank?

    ``distinct_colors`` counts distinct RGB values; ``non_white_fraction`` is the share of pixels
    with any of R, G, B below 250.
    """
    import numpy
    from PIL import Image

    with Image.open(png) as image:
        pixels = numpy.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    packed = (pixels[..., 0].astype(numpy.uint32) << 16) | (pixels[..., 1].astype(numpy.uint32) << 8) | pixels[..., 2]
    distinct = int(numpy.unique(packed).size)
    non_white = float((pixels < 250).any(axis=2).mean())
    return width, height, distinct, non_white
