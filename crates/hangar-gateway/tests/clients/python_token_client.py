"""Connects to an MCP server with a bearer token using the official Python SDK.

Usage: MCP_TOKEN=... python python_token_client.py URL MODE ALLOWED_TOOL FORBIDDEN_TOOL
MODE is "legacy" (initialize handshake) or "auto" (server/discover, then stateless).
Prints one JSON object: the tools listed, the allowed call's text, the forbidden call's error.
"""

import asyncio
import json
import os
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError


async def main():
    url, mode, allowed, forbidden = sys.argv[1:5]
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {os.environ['MCP_TOKEN']}"})
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client:
        names, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor)
            names += [tool.name for tool in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                break
        result = await client.call_tool(allowed, {"text": "hello from python"})
        try:
            await client.call_tool(forbidden, {})
            error = None
        except MCPError as e:
            error = {"code": e.error.code, "message": e.error.message}
        print(json.dumps({
            "protocolVersion": str(client.protocol_version),
            "tools": names,
            "allowed": result.content[0].text,
            "forbidden": error,
        }))


asyncio.run(main())
