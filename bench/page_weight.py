"""The dashboard's cold page weight: bytes on the wire for the page and every file it loads,
with gzip (what a browser asks for) and without (what metricx sent before it compressed),
and what a second visit fetches again (fingerprinted files are kept for a year).

Starts `metricx demo` on a free port and a data dir of its own, waits for its first sync,
signs in as the demo user through the sign-in form, measures, and stops the demo with
SIGTERM. Or measure a running metricx: --url, --email and --password."""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx

from metricx.sandbox.server import free_port

METRICX = str(Path(sys.executable).parent / "metricx")
ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')


def sign_in(http: httpx.Client, email: str, password: str) -> str:
    form = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, "no sign-in form"
    answer = http.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    front = http.get("/")
    return str(front.headers["location"])


def weigh(base: str, email: str, password: str, encoding: str, path: str = "") -> dict[str, int]:
    """{url: bytes on the wire} for the dashboard and its files, the browser's cache empty."""
    sizes: dict[str, int] = {}
    with httpx.Client(base_url=base, headers={"accept-encoding": encoding}) as http:
        dashboard = path or sign_in(http, email, password)
        if path:
            sign_in(http, email, password)
        page = http.get(dashboard, headers={"accept": "text/html"})
        assert page.status_code == 200, page.status_code
        sizes[dashboard] = page.num_bytes_downloaded
        for url in dict.fromkeys(ASSET.findall(page.text)):
            answer = http.get(urljoin(base, url))
            assert answer.status_code == 200, url
            sizes[url] = answer.num_bytes_downloaded
    return sizes


def demo(data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    port = free_port()
    env = {"METRICX_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [METRICX, "demo", "--port", str(port), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    info: dict[str, str] = json.loads(proc.stdout.readline())
    return proc, info


DATA = re.compile(r'data-currency="[A-Z]{3}" data-value="0*[1-9]')


def wait_for_data(base: str, email: str, password: str, seconds: float = 180) -> None:
    """Until the dashboard shows figures (the demo's first sync landed)."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base) as http:
        dashboard = sign_in(http, email, password)
        while time.monotonic() < deadline:
            if DATA.search(http.get(dashboard).text):
                return
            time.sleep(1)
    raise SystemExit(f"no figures on {base}{dashboard} within {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url")
    parser.add_argument("--email", default="demo@metricx.local")
    parser.add_argument("--password", default="metricx-demo")
    parser.add_argument("--path", default="", help="the page to weigh (default: the dashboard)")
    args = parser.parse_args()
    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if args.url:
                base = args.url
            else:
                proc, info = demo(Path(tmp))
                base = info["url"]
                wait_for_data(base, args.email, args.password)
            plain = weigh(base, args.email, args.password, "identity", args.path)
            packed = weigh(base, args.email, args.password, "gzip", args.path)
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
    print(f"{'resource':<44} {'identity':>10} {'gzip':>10}")
    for url, size in plain.items():
        print(f"{url.split('?')[0]:<44} {size:>10,} {packed.get(url, 0):>10,}")
    total_plain, total_packed = sum(plain.values()), sum(packed.values())
    print(f"{'cold total':<44} {total_plain:>10,} {total_packed:>10,}")
    html = next(iter(packed))
    print(
        f"second visit: {packed[html]:,} bytes (the page; its {len(packed) - 1} files are "
        "fingerprinted and kept by the browser)"
    )


if __name__ == "__main__":
    main()
