"""Limits enforced before a body is read, against the real app under uvicorn on loopback:
401 to a body without a key and 413 to a chunked body past the limit while the client is still
sending; 408 to bodies that do not arrive; rate limits shared by every process of a server and
applied to clients without a key; a 503 that tells the truth; security headers and
self-hosted docs; HTTPS from ``serve --tls-cert/--tls-key``."""

from __future__ import annotations

import concurrent.futures
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from countenance.service.gallery import InitOptions, init_gallery
from countenance.service.keys import create_key
from countenance.service.options import GalleryOptions

from .conftest import auth, running_server, settings_for
from .test_page_e2e import browser, chromium_path  # noqa: F401 (fixtures: Debian's Chromium via Playwright)

# Requests go to 127.0.0.1 only.


def _connect(url: str) -> socket.socket:
    parsed = urlparse(url)
    assert parsed.hostname == "127.0.0.1"
    return socket.create_connection((parsed.hostname, parsed.port), timeout=10)


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _status_of(reply: bytes) -> int:
    assert reply.startswith(b"HTTP/1.1 "), reply[:80]
    return int(reply[9:12])


def _send_until_answered(sock: socket.socket, head: bytes, chunks: int, chunk: bytes, first: bytes = b"") -> tuple[bytes, int]:
    """Send ``head`` (and ``first`` as a chunk) then up to ``chunks`` chunks (never the last
    one), stopping as soon as the server answers; the answer (b"" if none within 5 s) and the
    body bytes sent."""
    sock.sendall(head + (_chunk(first) if first else b""))
    sent = len(first)
    sock.setblocking(False)
    try:
        for _ in range(chunks):
            try:
                reply = sock.recv(65536)
                if reply:
                    return reply, sent
            except BlockingIOError:
                pass
            try:
                sock.sendall(_chunk(chunk))
            except (BrokenPipeError, ConnectionResetError, BlockingIOError):
                break
            sent += len(chunk)
    finally:
        sock.setblocking(True)
    sock.settimeout(5)
    try:
        return sock.recv(65536), sent
    except (TimeoutError, socket.timeout, ConnectionResetError):
        return b"", sent


@pytest.fixture(scope="module")
def server(gallery, fixtures):
    settings = settings_for(gallery, fixtures, threads=1, max_upload_bytes=400_000, body_timeout_s=1.0)
    with running_server(settings) as url:
        yield url


def test_a_body_without_a_key_is_refused_before_it_is_read(server):
    # A chunked JSON body and a chunked upload, no key: 401 after the first MiB of what would
    # be 400 MiB (FastAPI used to read it all, then check the key).
    for path, kind in [("/v1/subjects", "application/json"), ("/v1/identify", "multipart/form-data; boundary=x")]:
        with _connect(server) as sock:
            head = _head("POST", path, {"Content-Type": kind, "Transfer-Encoding": "chunked"})
            reply, sent = _send_until_answered(sock, head, 6400, b" " * (64 << 10))
            assert _status_of(reply) == 401, (path, reply[:200])
            assert sent <= 8 << 20, (path, sent)  # answered while the client was still sending


def test_a_chunked_body_past_the_limit_gets_413_as_it_streams(server, keys):
    limit = 400_000 * 4 + 65536
    with _connect(server) as sock:
        head = _head("POST", "/v1/identify", {**auth(keys["identify"]), "Content-Type": "multipart/form-data; boundary=x",
                                              "Transfer-Encoding": "chunked"})
        part = b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
        reply, sent = _send_until_answered(sock, head, 100, b"x" * (64 << 10), first=part)
        sock.settimeout(5)
        while b'"detail"' not in reply and (more := sock.recv(65536)):
            reply += more
        assert _status_of(reply) == 413 and b"request too large" in reply, reply[:300]
        assert limit < sent + (64 << 10) and sent <= limit + (8 << 20)


def test_slow_bodies_get_408_and_do_not_hold_the_server(server, keys):
    # 40 clients that declare a body and send 10 bytes of it: each is answered 408 and closed
    # after the body timeout (1 s here); 40 more without a key get 401 at once; the server
    # answers others meanwhile.
    slow, keyless = [], []
    started = time.monotonic()
    try:
        for _ in range(40):
            sock = _connect(server)
            sock.sendall(_head("POST", "/v1/subjects", {**auth(keys["enroll"]), "Content-Type": "application/json",
                                                        "Content-Length": "1000"}) + b'{"name": "')
            slow.append(sock)
        for _ in range(40):
            sock = _connect(server)
            sock.sendall(_head("POST", "/v1/subjects", {"Content-Type": "application/json", "Content-Length": "1000"}))
            keyless.append(sock)
        assert httpx.get(f"{server}/v1/health", timeout=5).status_code == 200
        for sock in keyless:
            sock.settimeout(5)
            assert _status_of(sock.recv(65536)) == 401
        for sock in slow:
            sock.settimeout(10)
            reply = sock.recv(65536)
            assert _status_of(reply) == 408, reply[:200]
            while sock.recv(65536):  # the server closes the connection
                pass
        assert time.monotonic() - started < 20
    finally:
        for sock in slow + keyless:
            sock.close()


def test_rate_limits_are_shared_by_the_servers_processes_and_apply_without_a_key(gallery, fixtures, keys):
    # Two server processes of one gallery (two runtimes, as two uvicorn workers have): one
    # allowance between them, per key and per address without a key.
    settings = settings_for(gallery, fixtures, threads=1, rate_per_s=0.01, burst=4)
    with running_server(settings) as first, running_server(settings) as second:
        answers = [httpx.get(f"{url}/v1/me", headers=auth(keys["read"]), timeout=10).status_code
                   for url in (first, second, first, second, first, second)]
        assert answers == [200, 200, 200, 200, 429, 429]
        anonymous = [httpx.get(f"{url}/v1/health", timeout=10) for url in (first, second, first, second, first, second)]
        assert [r.status_code for r in anonymous] == [200, 200, 200, 200, 429, 429]
        assert int(anonymous[-1].headers["Retry-After"]) >= 1
        # Guessing keys without one spends the address's bucket too.
        assert httpx.get(f"{second}/v1/me", headers=auth("cntn_0000_guess"), timeout=10).status_code == 429
        assert httpx.get(f"{first}/v1/me", headers=auth(keys["admin"]), timeout=10).status_code == 200  # another key


def test_a_503_tells_the_truth(tmp_path, fixtures):
    # One worker thread, 0.3 s timeout. The enrolment has started when its 503 comes: it goes
    # on, and its outcome id says when it has succeeded. The subject queued behind it had not
    # started: its 503 says it was cancelled, and it is never created.
    folder = tmp_path / "gallery"
    init_gallery(InitOptions(GalleryOptions(folder), embedder="dlib-onnx"))
    keys = {scope: create_key(GalleryOptions(folder), scope).token for scope in ("enroll", "read")}
    settings = settings_for(folder, fixtures, threads=1, timeout_s=0.3)
    photos = [f"people/obama/{name}" for name in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    with running_server(settings) as url, concurrent.futures.ThreadPoolExecutor(2) as pool:
        enrolling = pool.submit(httpx.post, f"{url}/v1/subjects/latecomer/faces", headers=auth(keys["enroll"]), timeout=60,
                                data={"image_paths": photos, "consent_text": "I agree to be recognised in tests"})
        time.sleep(0.1)
        queued = httpx.post(f"{url}/v1/subjects", headers=auth(keys["enroll"]), timeout=60,
                            json={"name": "queued", "consent": {"text": "I agree"}})
        assert queued.status_code == 503 and "nothing was done" in queued.json()["detail"]
        answered = enrolling.result()
        assert answered.status_code == 503, answered.text
        outcome = answered.json()["outcome"]
        assert answered.headers["Location"] == f"/v1/outcomes/{outcome}"
        deadline = time.monotonic() + 120
        while (state := httpx.get(f"{url}/v1/outcomes/{outcome}", headers=auth(keys["read"]), timeout=10).json())["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert state == {"id": outcome, "state": "succeeded", "status": None, "title": None}
        subject = httpx.get(f"{url}/v1/subjects/latecomer", headers=auth(keys["read"]), timeout=60)
        assert subject.status_code == 200 and len(subject.json()["templates"]) == 3
        assert httpx.get(f"{url}/v1/subjects/queued", headers=auth(keys["read"]), timeout=60).status_code == 404
        assert httpx.get(f"{url}/v1/outcomes/not-an-outcome", headers=auth(keys["read"]), timeout=10).status_code == 404




def test_a_16_bit_rgba_png_under_the_pixel_limit_is_refused_by_the_memory_budget(server, keys, png16_rgba):
    png = png16_rgba(5000, 5000)  # 25 MP, under the server's 40 MP; about 575 MiB to decode
    assert len(png) < 400_000
    response = httpx.post(f"{server}/v1/detect", headers=auth(keys["identify"]), files={"image": ("deep.png", png)}, timeout=60)
    assert response.status_code == 413 and response.json()["title"] == "image too large", response.text
    assert "MiB" in response.json()["detail"]


def test_security_headers_and_self_hosted_docs(server, keys):
    for path, headers in [("/", {}), ("/docs", {}), ("/v1/health", {}), ("/v1/me", auth(keys["read"])), ("/v1/me", {}),
                          ("/static/app.js", {})]:
        response = httpx.get(f"{server}{path}", headers=headers, timeout=10)
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "img-src 'self' blob: data:" in csp, path
        assert response.headers.get("x-frame-options") == "DENY", path
        assert response.headers.get("x-content-type-options") == "nosniff", path
        assert response.headers.get("referrer-policy") == "no-referrer", path
    docs = httpx.get(f"{server}/docs", timeout=10)
    assert docs.status_code == 200 and "/static/docs.js" in docs.text
    # Every script and stylesheet of the docs and the page is the server's own.
    for page in (docs.text, httpx.get(f"{server}/", timeout=10).text):
        assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert httpx.get(f"{server}/static/docs.js", timeout=10).status_code == 200


def test_the_docs_and_the_page_run_under_the_csp_in_chromium(server, browser):
    page = browser.new_page()
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
    page.goto(f"{server}/docs")
    page.wait_for_selector("h2:has-text('POST /v1/identify')", timeout=30_000)  # rendered by the server's own script
    page.goto(f"{server}/")
    page.wait_for_selector("#login-form", timeout=30_000)
    # The page shows face crops as blob: URLs; they must load under the policy.
    loaded = page.evaluate("""async () => {
        const canvas = document.createElement("canvas"); canvas.width = 8; canvas.height = 8;
        const blob = await new Promise((done) => canvas.toBlob(done, "image/png"));
        const image = new Image(); image.src = URL.createObjectURL(blob);
        document.body.append(image);
        try { await image.decode(); return image.naturalWidth; } catch (error) { return -1; }
    }""")
    assert loaded == 8
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1'; document.body.append(s); }")
    assert page.evaluate("() => window.injected === undefined")  # inline scripts are refused
    assert any("script" in text for text in refused) and all("img-src" not in text for text in refused), refused
    page.close()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_serve_speaks_https_closes_slow_heads_and_ignores_forwarded_addresses(gallery, tmp_path):
    from .conftest import _free_port

    cert, key = _self_signed(tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert))
    port = _free_port()
    command = [sys.executable, "-m", "countenance.cli", "serve", "--gallery", str(gallery), "--port", str(port), "--threads", "1",
               "--detector", "hog", "--embedder", "dlib-onnx", "--tls-cert", str(cert), "--tls-key", str(key),
               "--rate", "0.01", "--burst", "2", "--body-timeout", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            try:
                response = httpx.get(f"https://127.0.0.1:{port}/v1/health", verify=trusted, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert response.status_code == 200 and response.json()["status"] == "ok"
        # Without a key, a client cannot pick the address its bucket is kept under.
        spoofed = [httpx.get(f"https://127.0.0.1:{port}/v1/version", verify=trusted, timeout=5,
                             headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code for n in (1, 2)]
        assert spoofed == [200, 429]
        # A connection that sends nothing, or half a request head, is closed after the body timeout.
        silent, half = (trusted.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
                        for _ in range(2))
        half.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        opened = time.monotonic()
        for sock in (silent, half):
            with sock:
                sock.settimeout(15)
                assert sock.recv(1024) == b""  # closed, nothing answered
        assert time.monotonic() - opened < 12
        with pytest.raises(httpx.TransportError):  # plain HTTP is not spoken on that port
            httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=30)
    # Only one of the pair: refused with a message, exit 2.
    half = subprocess.run([sys.executable, "-m", "countenance.cli", "serve", "--gallery", str(gallery), "--tls-cert", str(cert)],
                          capture_output=True, text=True, timeout=60)
    assert half.returncode == 2 and "--tls-key" in half.stderr
