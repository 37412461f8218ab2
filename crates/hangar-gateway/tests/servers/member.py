"""A group member for the tests: an MCP server on the official Python SDK that
says who it is and counts what it was asked.

Usage: python member.py NAME PORT    (Streamable HTTP on 127.0.0.1:PORT at /mcp)
       python member.py NAME stdio
"""

import sys

import anyio
from mcp.server.mcpserver import MCPServer

name = sys.argv[1]
server = MCPServer(name=f"member-{name}", version="1.0.0")
started = {"whoami": 0, "slow": 0, "fail": 0, "refuse": 0}
running = {"slow": 0}


@server.tool()
def whoami() -> str:
    """The member's name."""
    started["whoami"] += 1
    return name


@server.tool()
async def slow(seconds: float) -> str:
    """Answers with the member's name after `seconds`."""
    started["slow"] += 1
    running["slow"] += 1
    try:
        await anyio.sleep(seconds)
    finally:
        running["slow"] -= 1
    return name


@server.tool()
def fail() -> str:
    """Always fails, as a tool (an error result, not a protocol error)."""
    started["fail"] += 1
    raise ValueError(f"{name} refuses")


@server.prompt()
def refuse() -> str:
    """Always fails, as a protocol (JSON-RPC) error."""
    started["refuse"] += 1
    raise ValueError(f"{name} refuses the prompt")


@server.tool()
def calls() -> dict:
    """How many calls of each tool started, and how many slow calls run now."""
    return {"started": started, "running": running}


if sys.argv[2] == "stdio":
    server.run("stdio")
else:
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
