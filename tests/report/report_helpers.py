"""Helpers of the report tests: the results fixture loader, the PDF-engine probe, and headless
Chromium driven over the DevTools protocol (for the tests and tests/report/snapshot.py).

Only the standard library and ``websocket-client`` (a test-only dependency).
Chromium is started with networking features off, on 127.0.0.1 with an
OS-chosen port, in a throw-away profile.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]

FIGURE_JS = """JSON.stringify(Array.from(document.querySelectorAll('img, svg')).map(function (el) {
  var r = el.getBoundingClientRect();
  return {tag: el.tagName.toLowerCase(), w: r.width, h: r.height, nw: el.naturalWidth || 0,
          nh: el.naturalHeight || 0, complete: el.tagName !== 'IMG' || el.complete,
          alt: el.getAttribute('alt') || el.getAttribute('aria-label') || ''};
}))"""


HERE = Path(__file__).resolve().parent


def load_results_fixture():
    """tests/fixtures/results_fixture.py as a module (loaded by path: tests/ is not a package)."""
    path = HERE.parent / "fixtures" / "results_fixture.py"
    spec = importlib.util.spec_from_file_location("uspec_results_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pdf_engine_reason() -> str | None:
    """Why no PDF can be rendered here, or None when an engine is available."""
    from uspec_audit.report.pdf import find_chromium as pdf_chromium

    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        if pdf_chromium() is None:
            return (
                "no PDF engine: neither WeasyPrint (pip install weasyprint, with Pango) nor chromium "
                "(apt-get install -y chromium) is installed"
            )
    return None


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    """What a page load produced."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    title: str = ""
    screenshots: list[Path] = field(default_factory=list)


class Chromium:
    def __init__(self, binary: str):
        import websocket  # test-only dependency: websocket-client

        # chromium's helper processes can still write into the profile for a moment after the browser exits
        self._tmp = tempfile.TemporaryDirectory(prefix="uspec-chromium-", ignore_cleanup_errors=True)
        profile = Path(self._tmp.name)
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.time() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        for _ in range(50):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5))
                break
            except OSError:
                time.sleep(0.1)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 60) -> dict:
        deadline = time.time() + timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        while time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == method:
                return msg
            self.events.append(msg)
        raise TimeoutError(method)

    def check_page(
        self, html_file: Path, shots: Path | None = None, width: int = 1280, height: int = 1600
    ) -> PageCheck:
        """Load ``html_file``; gather console errors, network requests, figure sizes, screenshots."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.send("Page.navigate", url=Path(html_file).absolute().as_uri())
        self.wait_event("Page.loadEventFired")
        time.sleep(0.5)  # let late console messages arrive
        self.send("Runtime.evaluate", expression="1")
        out = PageCheck()
        for ev in self.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.console_errors.append(
                    " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                )
            elif m == "Runtime.exceptionThrown":
                out.console_errors.append(p.get("exceptionDetails", {}).get("text", "exception"))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.console_errors.append(p["entry"].get("text", ""))
            elif m == "Network.requestWillBeSent":
                out.requests.append(p.get("request", {}).get("url", ""))
        self.events.clear()
        res = self.send("Runtime.evaluate", expression=FIGURE_JS, returnByValue=True)
        out.figures = json.loads(res["result"]["value"])
        out.title = self.send("Runtime.evaluate", expression="document.title", returnByValue=True)["result"][
            "value"
        ]
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            targets = [
                ("top", "0"),
                (
                    "first-figure",
                    "document.querySelector('figure') ? "
                    "document.querySelector('figure').getBoundingClientRect().top + scrollY - 20 : 0",
                ),
            ]
            for name, expr in targets:
                self.send("Runtime.evaluate", expression=f"window.scrollTo(0, {expr})")
                time.sleep(0.2)
                data = self.send("Page.captureScreenshot", format="png")["data"]
                path = shots / f"report-{name}.png"
                path.write_bytes(base64.b64decode(data))
                out.screenshots.append(path)
        return out

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            for _ in range(
                30
            ):  # the profile is ours to remove; retry while chromium's helpers finish writing
                try:
                    shutil.rmtree(self._tmp.name)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            self._tmp.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
