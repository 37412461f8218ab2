"""Connects to an MCP server with a bearer token using the official Python SDK.

Usage: MCP_TOKEN=... python python_token_client.py URL MODE ALLOWED_TOOL FORBIDDEN_TOOL
   or: MCP_ISSUER=... MCP_CLIENT_ID=... MCP_CLIENT_SECRET=... python python_token_client.py ...
MODE is "legacy" (initialize handshake) or "auto" (server/discover, then stateless).
With MCP_TOKEN the token is sent as is. With client credentials the SDK's own
OAuth flow gets one: the server's 401 points to its protected resource metadata
(RFC 9728), which names the authorization server; the SDK reads that server's
metadata and asks it for a token for the resource (client credentials grant).
Prints one JSON object: the tools listed, the allowed call's text, the forbidden call's error.
"""

import asyncio
import json
import os
import sys

from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError


class MemoryStorage:
    """Tokens and client information kept for this run only."""

    def __init__(self):
        self.tokens, self.client_info = None, None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def http_client(url):
    if "MCP_TOKEN" in os.environ:
        return create_mcp_http_client(headers={"Authorization": f"Bearer {os.environ['MCP_TOKEN']}"})
    oauth = ClientCredentialsOAuthProvider(
        server_url=url,
        storage=MemoryStorage(),
        client_id=os.environ["MCP_CLIENT_ID"],
        client_secret=os.environ["MCP_CLIENT_SECRET"],
        issuer=os.environ["MCP_ISSUER"],
    )
    return create_mcp_http_client(auth=oauth)


async def main():
    url, mode, allowed, forbidden = sys.argv[1:5]
    http = http_client(url)
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
