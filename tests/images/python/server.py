"""The MCP server of the end-to-end tests, on the official Python SDK (mcp 2.x).

Usage: server.py http [PORT]   Streamable HTTP on 0.0.0.0:PORT (default 8080) at /mcp
       server.py stdio         stdio, for `hangar bridge`
       server.py crash         exits at once with status 3 (a crash-looping server)

Environment: SERVER_NAME (default: the host name, in a pod the pod's name),
STARTUP_DELAY seconds to wait before serving (a slow-starting server).
"""

import os
import socket
import sys
import time

import anyio
from mcp.server.mcpserver import MCPServer

name = os.environ.get("SERVER_NAME") or socket.gethostname()
server = MCPServer(name="e2e-python", version="1.0.0")


@server.tool()
def whoami() -> str:
    """The name of the process that answered (its pod's name)."""
    return name


@server.tool()
def echo(text: str) -> str:
    """Answers with the text it was given."""
    return text


@server.tool()
async def slow(seconds: float) -> str:
    """Answers with the server's name after `seconds`."""
    await anyio.sleep(seconds)
    return name


mode = sys.argv[1] if len(sys.argv) > 1 else "http"
if mode == "crash":
    print("e2e-python: crashing on purpose", file=sys.stderr)
    sys.exit(3)
time.sleep(float(os.environ.get("STARTUP_DELAY", "0")))
if mode == "stdio":
    server.run("stdio")
else:
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8080
    server.run("streamable-http", host="0.0.0.0", port=port)
