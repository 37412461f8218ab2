"""An MCP server on the official Python SDK whose tool list grows when a tool
is called: `grow(name)` adds a tool `name` and announces the change, on
`subscriptions/listen` streams (2026-07-28) and on the session (2025-11-25).

Usage: python growing.py          (stdio)
       python growing.py PORT     (Streamable HTTP on 127.0.0.1:PORT at /mcp)
"""

import sys

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer(name="growing", version="1.0.0")


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Adds a tool called `name` that answers with its name."""

    def added() -> str:
        return f"{name} answers"

    server.add_tool(added, name=name, description="Added by grow")
    await ctx.notify_tools_changed()
    await ctx.session.send_tool_list_changed()
    return f"added {name}"


if len(sys.argv) > 1:
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
else:
    server.run("stdio")
