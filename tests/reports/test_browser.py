"""The headless-Chromium helper itself, on tiny hand-written pages.

Skipped, saying why, where no Chromium is installed; ``.ci/run`` installs Debian's ``chromium``.
"""
from __future__ import annotations

import time

import pytest

from .browser import RenderError, chromium_missing_reason, render, screenshot_stats

pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None, reason=chromium_missing_reason() or "")

CLEAN = """<!doctype html>
<html><head><meta charset="utf-8"><title>clean</title></head>
<body>
  <h1 style="color:#b00">A clean page</h1>
  <div id="box" style="width:400px;height:300px;background:linear-gradient(90deg,#08f,#0c4)"></div>
  <script>console.log("a log is not an error"); console.warn("nor is a warning");
  document.getElementById("box").setAttribute("data-drawn", "yes");</script>
</body></html>
"""


def page(tmp_path, body: str, name: str = "page.html"):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_clean_page_has_no_errors_and_a_picture(tmp_path):
    result = render(page(tmp_path, CLEAN), tmp_path / "shot.png")  # the defaults: 1280 x 2000
    assert result.console_errors == []
    assert 'data-drawn="yes"' in result.dom  # the DOM is the one after the scripts ran
    assert "log: a log is not an error" in result.console_messages
    assert not result.needs_horizontal_scroll
    width, height, colors, non_white = screenshot_stats(result.screenshot)
    assert (width, height) == (1280, 2000)
    assert colors > 50  # the gradient and the anti-aliased heading
    assert non_white > 0.03  # the 400 x 300 box alone is 4.7 % of the window


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ('console.error("x-marks-the-spot")', "console.error: x-marks-the-spot"),
        ('throw new Error("y-went-wrong")', "Uncaught Error: y-went-wrong"),
        ('Promise.reject(new TypeError("z-rejected"))', "Uncaught (in promise) TypeError: z-rejected"),
        ('setTimeout(() => { throw new RangeError("later") }, 0)', "Uncaught RangeError: later"),
        ('alert("hello")', "dialog (alert): hello"),  # answered, so that the page goes on
    ],
    ids=["console.error", "throw", "unhandled-rejection", "throw-in-timer", "alert"],
)
def test_script_errors_are_reported(tmp_path, script, expected):
    html = f"<!doctype html><html><body><h1>errors</h1><script>{script}</script></body></html>"
    result = render(page(tmp_path, html), tmp_path / "shot.png", height=600)
    assert any(expected in error for error in result.console_errors), result.console_errors


def test_a_network_script_is_reported(tmp_path):
    html = (
        '<!doctype html><html><head><script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script>'
        "</head><body><h1>needs a network</h1></body></html>"
    )
    result = render(page(tmp_path, html), tmp_path / "shot.png", height=600)
    network = [error for error in result.console_errors if "https://cdn.plot.ly/plotly-2.35.2.min.js" in error]
    assert any(error.startswith("network request") for error in network), result.console_errors
    assert any("ERR_NAME_NOT_RESOLVED" in error for error in network), result.console_errors


def test_a_missing_local_file_is_reported(tmp_path):
    html = '<!doctype html><html><body><img src="missing.png" alt=""></body></html>'
    result = render(page(tmp_path, html), tmp_path / "shot.png", height=600)
    assert any("missing.png" in error and "ERR_FILE_NOT_FOUND" in error for error in result.console_errors)


def test_a_page_wider_than_the_window_needs_horizontal_scroll(tmp_path):
    html = '<!doctype html><html><body><div style="width:1500px;height:40px;background:#0a0"></div></body></html>'
    result = render(page(tmp_path, html), tmp_path / "shot.png", width=1280, height=600)
    assert result.console_errors == []
    assert result.needs_horizontal_scroll
    assert result.client_width == 1280 and result.scroll_width > 1500


def test_a_blank_page_looks_blank(tmp_path):
    result = render(page(tmp_path, "<!doctype html><html><body></body></html>"), tmp_path / "shot.png", height=600)
    assert screenshot_stats(result.screenshot) == (1280, 600, 1, 0.0)


def test_evaluate_and_wait_for_js(tmp_path):
    html = """<!doctype html><html><body><script>
    setTimeout(() => { window.ready = true; document.body.innerHTML = "<p>late</p>" }, 300);
    </script></body></html>"""
    result = render(
        page(tmp_path, html),
        tmp_path / "shot.png",
        height=600,
        wait_for_js="window.ready === true",
        evaluate={"paragraphs": "document.querySelectorAll('p').length", "size": "[innerWidth, innerHeight]"},
    )
    assert result.values == {"paragraphs": 1, "size": [1280, 600]}
    assert "<p>late</p>" in result.dom


def test_wait_for_js_that_never_holds_times_out(tmp_path):
    start = time.monotonic()
    with pytest.raises(RenderError, match="timed out"):
        render(page(tmp_path, CLEAN), tmp_path / "shot.png", height=600, wait_for_js="window.never", timeout=2)
    assert time.monotonic() - start < 10


def test_a_missing_html_file_raises(tmp_path):
    with pytest.raises(RenderError, match="no such file"):
        render(tmp_path / "nothing.html", tmp_path / "shot.png")


def test_inline_plotly_draws_a_chart(tmp_path):
    from plotly.offline import get_plotlyjs

    html = f"""<!doctype html><html><head><meta charset="utf-8">
<script type="text/javascript">{get_plotlyjs()}</script></head>
<body><div id="chart" style="width:900px;height:500px"></div>
<script>
Plotly.newPlot("chart", [{{x: [1, 2, 3, 4], y: [3, 1, 4, 1.5], type: "scatter", mode: "lines+markers"}}],
               {{title: {{text: "inline plotly"}}}});
</script></body></html>"""
    result = render(
        page(tmp_path, html),
        tmp_path / "shot.png",
        height=700,
        wait_for_js="document.querySelector('#chart .main-svg .scatterlayer .trace')",
        evaluate={"points": "document.querySelectorAll('#chart .scatterlayer .point').length"},
    )
    assert result.console_errors == []
    assert 'class="main-svg"' in result.dom
    assert result.values["points"] == 4
    assert not result.needs_horizontal_scroll
    _, _, colors, non_white = screenshot_stats(result.screenshot)
    assert colors > 20 and non_white > 0.01
