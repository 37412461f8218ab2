"""An MCP server on the official Python SDK whose calls log as they go:
`chatty(tag, count)` sends `count` info log messages `<tag> <i>` on the
call's stream, then answers `tag`.

Usage: python chatty.py PORT    (Streamable HTTP on 127.0.0.1:PORT at /mcp)
"""

import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer(name="chatty", version="1.0.0")


@server.tool()
async def chatty(tag: str, count: int, ctx: Context) -> str:
    """Logs `count` messages, then answers `tag`."""
    for i in range(count):
        await ctx.info(f"{tag} {i}")
        await anyio.sleep(0.005)
    return tag


server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
