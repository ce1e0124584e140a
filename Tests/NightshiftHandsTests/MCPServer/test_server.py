"""An MCP server for Nightshift's tests, written with the official Python SDK (mcp<2, FastMCP).

Each tool exercises one path of the client: a plain result, a slow call, an error, a large
result, the environment the server was given, a read outside the workspace, and a crash.
"""
import os
import sys
import time

from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

server = FastMCP("nightshift-test")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool()
def slow(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def fail(message: str) -> str:
    """Always raises an error with the given message."""
    raise ValueError(message)


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def big(kilobytes: int) -> str:
    """Return this many kilobytes of text."""
    line = "0123456789abcdef" * 4 + "\n"
    return line * (kilobytes * 1024 // len(line))


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def env(name: str) -> str:
    """The value of an environment variable in the server, or <unset>."""
    return os.environ.get(name, "<unset>")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def read(path: str) -> str:
    """Read a file anywhere the server can see."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read(2000)


@server.tool()
def write(path: str, text: str) -> str:
    """Write a file anywhere the server can."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return f"wrote {len(text)} bytes to {path}"


@server.tool()
def crash() -> str:
    """Exit the server process at once, without answering."""
    sys.stdout.flush()
    os._exit(3)


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def pid() -> str:
    """The server's process id (inside its PID namespace when sandboxed)."""
    return str(os.getpid())


if __name__ == "__main__":
    server.run("stdio")
