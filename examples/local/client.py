"""Lists what `make run` serves and calls one tool, with the official MCP Python SDK.

    pip install 'mcp>=2'                  # once
    python3 examples/local/client.py      # or: python3 examples/local/client.py URL
"""

import sys

import anyio
from mcp import Client

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080/mcp"


async def main():
    async with Client(URL) as client:
        tools, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += page.tools
            cursor = page.next_cursor
            if cursor is None:
                break
        print(f"{len(tools)} tools:", ", ".join(tool.name for tool in tools))
        result = await client.call_tool("everything_echo", {"message": "hello from the Python SDK"})
        print("everything_echo:", " ".join(b.text for b in result.content if b.type == "text"))


anyio.run(main)
