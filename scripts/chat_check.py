#!/usr/bin/env python3
"""Checks llm-cli's conversation mode against the same turns rendered and run from scratch, greedily.

Drives `llm-cli -m MODEL -cnv --temp 0 -n N` with user turns through a pipe (--mode pipe) or typed into a
real terminal under tmux (--mode tmux), then replays the conversation turn by turn: the conversation so far
is rendered with `llm-template` (the same template and variables) and continued greedily by a reference:
  --ref kestrel            `llm-cli -p RENDERED --temp 0 -n N` from an empty cache (no chat, no reuse)
  --ref llama-server=BIN   llama.cpp's llama-server /completion (temperature 0, n_predict N, no prompt cache)
Every reply must be identical. Turns after the first must evaluate only new tokens: the per-turn counts
llm-cli prints to stderr must show tokens reused from the cache and evaluated = prompt - reused.
Prints one line per turn; exits 1 on any difference.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TURN_RE = re.compile(r"turn (\d+): prompt (\d+) tokens, (\d+) reused from the cache, (\d+) evaluated")


def run_pipe(cli, args, turns):
    p = subprocess.run([cli] + args, input="".join(t + "\n" for t in turns), capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0:
        sys.exit(f"chat_check: llm-cli failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return p.stdout, p.stderr


def run_tmux(cli, args, turns, tmp):
    if not shutil.which("tmux"):
        sys.exit("chat_check: tmux is not installed")
    out, err = os.path.join(tmp, "tmux.out"), os.path.join(tmp, "tmux.err")
    sess = f"kestrel_chat_{os.getpid()}"
    cmd = " ".join(["'" + a.replace("'", "'\\''") + "'" for a in [cli] + args])
    # stdin is the terminal; stdout is tee'd to a file so the replies can be compared byte for byte.
    subprocess.run(["tmux", "new-session", "-d", "-s", sess, "-x", "200", "-y", "50",
                    f"{cmd} 2>{err} | tee {out}; sleep 30"], check=True)
    try:
        def wait_for(pred, what, timeout=600):
            t0 = time.time()
            while time.time() - t0 < timeout:
                if pred():
                    return
                time.sleep(0.1)
            sys.exit(f"chat_check: timed out waiting for {what}")
        read = lambda p: open(p, encoding="utf-8", errors="replace").read() if os.path.exists(p) else ""
        wait_for(lambda: read(out).endswith("> "), "the first prompt")
        for k, t in enumerate(turns, 1):
            subprocess.run(["tmux", "send-keys", "-t", sess, "-l", t], check=True)
            subprocess.run(["tmux", "send-keys", "-t", sess, "Enter"], check=True)
            wait_for(lambda: len(TURN_RE.findall(read(err))) >= k and read(out).endswith("> "), f"reply {k}")
        subprocess.run(["tmux", "send-keys", "-t", sess, "C-d"], check=True)
        wait_for(lambda: "> " not in read(out)[-2:] or read(out).endswith("> "), "exit", 5)
        time.sleep(0.5)
        return read(out), read(err)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", sess], capture_output=True)


def render(template_tool, model, template, messages, tmp):
    req = os.path.join(tmp, "req.json")
    with open(req, "w", encoding="utf-8") as f:
        json.dump({"messages": messages, "add_generation_prompt": True}, f, ensure_ascii=False)
    cmd = [template_tool, "-m", model, "-i", req] + (["--template", template] if template else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"chat_check: llm-template failed: {p.stderr.strip()}")
    return p.stdout


def bos_text(template_tool, model, tmp):
    # The model's bos_token as the template sees it.
    t = os.path.join(tmp, "bos.jinja")
    open(t, "w").write("{{ bos_token }}")
    req = os.path.join(tmp, "empty.json")
    open(req, "w").write('{"messages": []}')
    return subprocess.run([template_tool, "-m", model, "--template", t, "-i", req], capture_output=True,
                          text=True, check=True).stdout


class LlamaServer:
    def __init__(self, binary, model, n_ctx, threads):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([binary, "-m", model, "--host", "127.0.0.1", "--port", str(self.port),
                                      "-c", str(n_ctx), "-t", str(threads), "-np", "1", "--no-webui"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1)
                return
            except Exception:
                time.sleep(0.2)
        self.close()
        sys.exit("chat_check: llama-server did not start")

    def complete(self, prompt, n):
        body = json.dumps({"prompt": prompt, "n_predict": n, "temperature": 0, "top_k": 1, "cache_prompt": False,
                           "samplers": ["top_k"]}).encode()
        try:
            r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{self.port}/completion", body,
                                                              {"Content-Type": "application/json"}), timeout=600)
        except urllib.error.HTTPError as e:
            sys.exit(f"chat_check: llama-server: {e.code} {e.read().decode()[:500]}")
        return json.loads(r.read())["content"]

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="Kestrel's build/bin")
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--template", default="", help="--chat-template-file for llm-cli and llm-template")
    ap.add_argument("--system", default="")
    ap.add_argument("--mode", choices=["pipe", "tmux"], default="pipe")
    ap.add_argument("--ref", default="kestrel")
    ap.add_argument("-n", type=int, default=24)
    ap.add_argument("--cli-arg", action="append", default=[],
                    help="extra llm-cli argument for the conversation run only (repeatable; e.g. --cli-arg=--lookup "
                         "--cli-arg=8: speculative replies must equal the plain from-scratch reference)")
    ap.add_argument("-ctk", "--cache-type", default="", help="KV cache type for both runs (llm-cli -ctk)")
    ap.add_argument("-c", type=int, default=1024)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("turns", nargs="+")
    a = ap.parse_args()
    cli, tool = os.path.join(a.bin, "llm-cli"), os.path.join(a.bin, "llm-template")
    cache = ["-ctk", a.cache_type] if a.cache_type else []
    args = ["-m", a.model, "-cnv", "--temp", "0", "-n", str(a.n), "-c", str(a.c), "-t", str(a.t), *cache]
    if a.template:
        args += ["--chat-template-file", a.template]
    args += a.cli_arg
    if a.system:
        args += ["-sys", a.system]
    with tempfile.TemporaryDirectory() as tmp:
        out, err = run_pipe(cli, args, a.turns) if a.mode == "pipe" else run_tmux(cli, args, a.turns, tmp)
        if a.mode == "tmux":  # the terminal session prints "\n> " before each turn
            out = out.replace("\n> ", "")
        counts = [tuple(map(int, m)) for m in TURN_RE.findall(err)]
        if len(counts) != len(a.turns):
            sys.exit(f"chat_check: expected {len(a.turns)} turns, llm-cli reported {len(counts)}:\n{err[-1000:]}")
        bos = bos_text(tool, a.model, tmp)
        server = LlamaServer(a.ref.split("=", 1)[1], a.model, a.c, a.t) if a.ref.startswith("llama-server=") else None
        try:
            messages = [{"role": "system", "content": a.system}] if a.system else []
            expected = ""
            for turn in a.turns:
                messages.append({"role": "user", "content": turn})
                prompt = render(tool, a.model, a.template, messages, tmp)
                # Both engines add the vocab's BOS themselves: drop the template's BOS text.
                if bos and prompt.startswith(bos):
                    prompt = prompt[len(bos):]
                if server:
                    reply = server.complete(prompt, a.n)
                else:
                    p = subprocess.run([cli, "-m", a.model, "-p", prompt, "--no-echo", "--temp", "0", "-n", str(a.n),
                                        "-c", str(a.c), "-t", str(a.t), *cache], capture_output=True, text=True,
                                       check=True)
                    reply = p.stdout[:-1] if p.stdout.endswith("\n") else p.stdout
                messages.append({"role": "assistant", "content": reply})
                expected += reply + "\n"
        finally:
            if server:
                server.close()
        ok = True
        got_replies = out.split("\n")
        for k, (turn, prompt, reused, evaluated) in enumerate(counts):
            line = f"turn {turn}: prompt {prompt} tokens, {reused} reused, {evaluated} evaluated"
            if k > 0 and (reused == 0 or evaluated != prompt - reused):
                ok = False
                line += "  <-- expected only the new tokens to be evaluated"
            print(line)
        if out != expected:
            ok = False
            print(f"chat_check: replies differ ({a.mode} vs {a.ref})\n--- reference:\n{expected}--- llm-cli:\n{out}")
        else:
            print(f"chat_check: {len(a.turns)} replies identical ({a.mode} vs {a.ref}, {len(expected)} bytes)")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
