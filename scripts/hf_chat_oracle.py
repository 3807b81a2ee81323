#!/usr/bin/env python3
"""Renders chat templates exactly as Hugging Face transformers does (the test oracle for jinja/).

Reads JSON on stdin: {"templates": {name: source}, "cases": [{"messages": [...], "add_generation_prompt": bool,
"extra": {...}}], "bos_token": str, "eos_token": str, "now": epoch seconds}; writes {name: [{"ok": true,
"out": str} | {"ok": false, "err": str}, ...]} on stdout, one entry per case.

The environment is transformers' _compile_jinja_template: ImmutableSandboxedEnvironment(trim_blocks=True,
lstrip_blocks=True) with the loopcontrols extension, a {% generation %} tag that renders its body, tojson as
json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys),
raise_exception and strftime_now (here pinned to "now" so the output is reproducible). Variables:
messages, tools, documents (None when absent), add_generation_prompt, bos_token, eos_token, extra keys.
Needs Debian's python3-jinja2.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def make_env(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.fromtimestamp(now).strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    req = json.load(sys.stdin)
    env = make_env(req.get("now", 0))
    out = {}
    for name, source in req["templates"].items():
        results = []
        try:
            tmpl = env.from_string(source)
        except Exception as e:  # a template jinja2 cannot compile fails every case
            out[name] = [{"ok": False, "err": f"{type(e).__name__}: {e}"} for _ in req["cases"]]
            continue
        for case in req["cases"]:
            ctx = {"messages": case["messages"], "tools": None, "documents": None,
                   "add_generation_prompt": case.get("add_generation_prompt", True),
                   "bos_token": req.get("bos_token", ""), "eos_token": req.get("eos_token", "")}
            ctx.update(case.get("extra", {}))
            try:
                results.append({"ok": True, "out": tmpl.render(**ctx)})
            except Exception as e:
                results.append({"ok": False, "err": f"{type(e).__name__}: {e}"})
        out[name] = results
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
