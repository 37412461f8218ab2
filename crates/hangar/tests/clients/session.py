"""One MCP client session on the official Python SDK, driven by the test.

Usage: [MCP_TOKEN=...] python session.py URL
Connects once (session-based revision: initialize, Mcp-Session-Id; with
`Authorization: Bearer $MCP_TOKEN` when MCP_TOKEN is set) and keeps that one
session for the whole run. Reads one JSON command per line on stdin
and answers each with one JSON line on stdout:
  {"op": "list_tools"}                          -> {"names": [...]}
  {"op": "call_tool", "name": N, "arguments": A} -> {"isError": b, "text": s, "structured": o}
  {"op": "get_prompt", "name": N, "arguments": A} -> {"messages": [{"role": r, "text": s}]}
  {"op": "read_resource", "uri": U}              -> {"text": s, "mimeType": m}
  {"op": "wait_tools_changed", "seen": n}        -> {"changed": m}  (waits until m > n)
"""

import json
import os
import sys

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

tools_changed = 0
changed_event = anyio.Event()


async def on_message(message):
    global tools_changed, changed_event
    if isinstance(message, types.ToolListChangedNotification):
        tools_changed += 1
        changed_event.set()
        changed_event = anyio.Event()


async def run(client, command):
    op = command["op"]
    if op == "list_tools":
        names, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor)
            names += [tool.name for tool in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                return {"names": names}
    if op == "call_tool":
        result = await client.call_tool(command["name"], command.get("arguments", {}))
        texts = [block.text for block in result.content if block.type == "text"]
        return {
            "isError": bool(result.is_error),
            "text": "\n".join(texts),
            "structured": result.structured_content,
        }
    if op == "get_prompt":
        result = await client.get_prompt(command["name"], command.get("arguments"))
        return {"messages": [{"role": m.role, "text": m.content.text} for m in result.messages]}
    if op == "read_resource":
        result = await client.read_resource(command["uri"])
        content = result.contents[0]
        return {"text": getattr(content, "text", None), "mimeType": content.mime_type}
    if op == "wait_tools_changed":
        while tools_changed <= command["seen"]:
            await changed_event.wait()
        return {"changed": tools_changed}
    raise ValueError(f"unknown op {op}")


async def main():
    token = os.environ.get("MCP_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    http = create_mcp_http_client(headers=headers)
    transport = streamable_http_client(sys.argv[1], http_client=http)
    async with http, Client(transport, mode="legacy", message_handler=on_message, cache=None) as client:
        print(json.dumps({"ready": True}), flush=True)
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline)
            if not line:
                return
            try:
                answer = await run(client, json.loads(line))
            except Exception as error:  # the test reads the failure as an answer
                answer = {"error": f"{type(error).__name__}: {error}"}
            print(json.dumps(answer), flush=True)


anyio.run(main)
