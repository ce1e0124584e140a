#!/usr/bin/env python3
"""Records exchanges with a real llama.cpp server as fixtures for the provider tests.

Each fixture is the request body sent and the server's answer as it came (status, content type,
body bytes as text), so the tests replay exactly what a real llama-server says to the requests
that once left runs paused: a tool call cut off by max_tokens, a text-only answer, the HTTP 500
for broken arguments in the history, the HTTP 400 for two answers at the end and for a request
larger than the context. Run it against the server scripts/local-model.sh starts:

    scripts/local-model/capture-fixtures.py http://127.0.0.1:18080 Tests/NightshiftModelsTests/Golden/llama

The small model it was made with (Gemma 3 270M, a base model) is prompted with two example calls
so that it answers with tool calls at all; llama.cpp parses them with the chat template the
script gives it (chatml-tools.jinja).
"""
import json
import sys
import urllib.error
import urllib.request

WRITE_FILE = {
    "type": "function",
    "function": {
        "name": "write_file",
        "description": "Write a file in the workspace",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
}
EXAMPLES = [
    {"role": "system", "content": "You write files by answering with a tool call."},
    {"role": "user", "content": "Create a.txt containing one."},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
        "name": "write_file", "arguments": "{\"path\": \"a.txt\", \"content\": \"one\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "wrote a.txt"},
    {"role": "user", "content": "Create b.txt containing two."},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "c2", "type": "function", "function": {
        "name": "write_file", "arguments": "{\"path\": \"b.txt\", \"content\": \"two\"}"}}]},
    {"role": "tool", "tool_call_id": "c2", "content": "wrote b.txt"},
    {"role": "user", "content": "Create c.txt containing three."},
]
STREAM = {"stream": True, "stream_options": {"include_usage": True}}


def exchange(base, body):
    request = urllib.request.Request(
        base + "/v1/chat/completions", data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def main(base, folder):
    cases = {
        # Cut off inside the arguments: the deltas stop mid-JSON, finish_reason "length".
        "tool-call-cut-off": dict(model="gemma", messages=EXAMPLES, tools=[WRITE_FILE], tool_choice="auto",
                                  max_tokens=22, **STREAM),
        "tool-call-whole": dict(model="gemma", messages=EXAMPLES, tools=[WRITE_FILE], tool_choice="auto",
                                max_tokens=40, **STREAM),
        "text-only": dict(model="gemma", messages=[{"role": "user", "content": "Say something about the sea."}],
                          max_tokens=24, **STREAM),
        "broken-arguments-500": dict(model="gemma", tools=[WRITE_FILE], messages=EXAMPLES[:2] + [
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
                "name": "write_file", "arguments": "{\"path\": \"a.t"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ERROR: not run"},
            {"role": "user", "content": "Try again."}], max_tokens=24, **STREAM),
        "two-answers-400": dict(model="gemma", messages=[
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "assistant", "content": "again"}], max_tokens=24, **STREAM),
        "context-exceeded-400": dict(model="gemma", messages=[{"role": "user", "content": "word " * 9000}],
                                     max_tokens=24, **STREAM),
    }
    for name, body in cases.items():
        status, content_type, text = exchange(base, body)
        with open(f"{folder}/{name}.json", "w") as f:
            json.dump({"request": body if name != "context-exceeded-400" else {"messages": "word × 9000", "max_tokens": 24},
                       "status": status, "content_type": content_type, "body": text}, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{name}: HTTP {status}, {len(text)} bytes")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2])
