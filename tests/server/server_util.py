"""Starts llm-server for the Python tests and talks to it over plain HTTP (http.client, no extra
packages). The server binds port 0 and prints the port it got; tests never collide on a port."""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77  # ctest SKIP_RETURN_CODE


def skip(msg):
    print("SKIPPED: " + msg)
    sys.exit(SKIP)

# Failures of check(); a test script reports them and exits non-zero at its end.
FAILED = []


def check(name, fn):
    t0 = time.time()
    try:
        fn()
        print("[ OK ] %s (%.2f s)" % (name, time.time() - t0))
    except Exception as e:  # a failed check is reported and the others still run
        import traceback
        traceback.print_exc()
        print("[FAIL] %s: %r" % (name, e))
        FAILED.append(name)


def bin_dir():
    return os.environ.get("KESTREL_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/bin"))


def shared_dir():
    return os.environ.get("KESTREL_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../shared"))


def test_model(tmp, type_name="f32"):
    """stories260K (real weights, real text) when ../shared is there, else a synthetic model."""
    p = os.path.join(shared_dir(), "models", "stories260K-%s.gguf" % type_name)
    if os.path.exists(p):
        return p
    p = os.path.join(tmp, "synth-%s.gguf" % type_name)
    if not os.path.exists(p):
        subprocess.run([os.path.join(bin_dir(), "llm-synth"), p, "--dim", "64", "--layers", "2", "--heads", "4",
                        "--kv-heads", "2", "--ff", "128", "--vocab", "300", "--type", type_name], check=True,
                       stdout=subprocess.DEVNULL)
    return p


class Server:
    def __init__(self, model, *extra, wait_ready=True, timeout=30):
        self.log = tempfile.NamedTemporaryFile(prefix="llm-server-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([os.path.join(bin_dir(), "llm-server"), "-m", model, "--port", "0", *extra],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        deadline = time.time() + timeout
        while time.time() < deadline and self.port is None:
            m = re.search(r"listening on http://[^:]+:(\d+)", self.log_text())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                raise RuntimeError("llm-server exited: " + self.log_text())
            else:
                time.sleep(0.02)
        if self.port is None:
            raise RuntimeError("llm-server did not start: " + self.log_text())
        if wait_ready:
            while time.time() < deadline:
                if self.request("GET", "/health")[0] == 200:
                    return
                time.sleep(0.02)
            raise RuntimeError("llm-server not ready: " + self.log_text())

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None, raw=None, timeout=60):
        """(status, parsed JSON or text, headers)"""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        c.request(method, path, body=data, headers=headers or {})
        r = c.getresponse()
        text = r.read().decode("utf-8", errors="replace")
        c.close()
        try:
            return r.status, json.loads(text), dict(r.getheaders())
        except ValueError:
            return r.status, text, dict(r.getheaders())

    def metrics(self, headers=None):
        status, text, _ = self.request("GET", "/metrics", headers=headers)
        assert status == 200, (status, text)
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.split()
                out[k.split(":", 1)[1]] = float(v)
        return out

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
