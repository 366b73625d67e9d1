"""report.html in a real browser: headless Chromium loads it and every image must decode, with
no error on the console or from a resource. Skipped (and said so) where no Chromium is installed
(Debian: apt-get install chromium; .ci/run installs it when apt can)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from socialbias import metrics
from socialbias import report as R
from tests.metrics_fixtures import paper_answers

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Injected first in <head>: records resource and script errors and console.error calls, and on
#: load writes what it found into <pre id="__check"> for --dump-dom to show.
PROBE = """<script>
window.__errors=[];
window.addEventListener('error',function(e){var t=e.target;window.__errors.push(t&&t.tagName?
 ('resource '+t.tagName+' '+(t.getAttribute('alt')||'')):('script '+e.message));},true);
var __ce=console.error;console.error=function(){window.__errors.push('console '+
 Array.prototype.join.call(arguments,' '));__ce.apply(console,arguments);};
window.addEventListener('load',function(){var bad=[];document.querySelectorAll('img').forEach(function(i){
 if(!(i.complete&&i.naturalWidth>0))bad.push(i.alt);});var p=document.createElement('pre');p.id='__check';
 p.textContent=JSON.stringify({images:document.images.length,broken:bad,errors:window.__errors});
 document.body.appendChild(p);});
</script>"""


def _browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def browser_check(html_path, browser: str, profile) -> dict:
    """Load a copy of ``html_path`` with :data:`PROBE` in headless Chromium; return its findings."""
    text = html_path.read_text(encoding="utf-8")
    probed = html_path.with_name("probed_" + html_path.name)
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-extensions", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", probed.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="__check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the browser did not finish loading the page (exit {done.returncode}): {done.stderr[-500:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.fixture(scope="module")
def browser() -> str:
    path = _browser()
    print(f"\nbrowser test: {'ran with ' + path if path else 'skipped (no chromium installed)'}", file=sys.stderr)
    if path is None:
        pytest.skip("no headless browser (apt-get install chromium)")
    return path


def test_report_loads_in_a_browser_without_errors(browser, tmp_path, capsys):
    results = metrics.score_answers(paper_answers(), n_boot=50, seed=0, thresholds=metrics.TypeThresholds(n_null=100))
    path = R.write_report(results, tmp_path / "run", record={"warnings": ["a warning shown first"]})
    seen = browser_check(path, browser, tmp_path / "profile")
    n_figures = len(list((tmp_path / "run" / "figures").glob("*.png")))
    assert seen["images"] == n_figures > 0
    assert seen["broken"] == [] and seen["errors"] == []
    # The check can fail: one image's data broken is caught as a broken image and an error.
    html = path.read_text(encoding="utf-8")
    start = html.index("base64,") + len("base64,")
    broken = tmp_path / "broken" / "report.html"
    broken.parent.mkdir()
    broken.write_text(html[:start] + "AAAA" + html[start + 4000:], encoding="utf-8")
    seen = browser_check(broken, browser, tmp_path / "profile2")
    assert len(seen["broken"]) == 1 and any(e.startswith("resource IMG") for e in seen["errors"])
    with capsys.disabled():
        print(f"browser test: {browser} loaded report.html with {n_figures} figures, no error")
