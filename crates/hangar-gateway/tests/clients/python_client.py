"""Runs a plan of MCP operations against a server with the official Python SDK.

Usage: python python_client.py URL MODE < plan.json
MODE is "legacy" (initialize handshake) or "auto" (server/discover, then stateless).
The plan is a JSON list of steps; the results are printed as one JSON object.
A call_tool step with "progress": true also reports the progress values heard;
any step with "timed": true reports how long it took in "ms".
The sampling callback answers $SAMPLING_REPLY (default "Paris"), after
$SAMPLING_DELAY_MS milliseconds (default 0).
"""

import asyncio
import json
import os
import sys
import time

import mcp_types as types
from mcp import Client
from mcp.shared.exceptions import MCPError


async def sampling(context, params):
    await asyncio.sleep(int(os.environ.get("SAMPLING_DELAY_MS", "0")) / 1000)
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=os.environ.get("SAMPLING_REPLY", "Paris")),
        model="python-test-model",
        stop_reason="endTurn",
    )


async def elicitation(context, params):
    return types.ElicitResult(action="accept", content={"name": "Ada"})


def content_summary(block):
    data = block.model_dump(by_alias=True, exclude_none=True)
    return {key: data[key] for key in ("type", "text", "mimeType") if key in data}


async def run_step(client, step):
    op = step["op"]
    if op == "list_tools":
        tools, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += page.tools
            cursor = page.next_cursor
            if cursor is None:
                keep = ("name", "title", "description", "inputSchema", "annotations")
                return {
                    "names": [tool.name for tool in tools],
                    "tools": [
                        {k: v for k, v in tool.model_dump(by_alias=True, exclude_none=True).items() if k in keep}
                        for tool in tools
                    ],
                }
    if op == "call_tool":
        # With "progress": true, the progress values the client heard, in order.
        heard = []

        async def progress(value, total, message):
            heard.append(value)

        callback = progress if step.get("progress") else None
        result = await client.call_tool(step["name"], step.get("arguments", {}), progress_callback=callback)
        summary = {
            "isError": bool(result.is_error),
            "content": [content_summary(block) for block in result.content],
            "structured": result.structured_content,
        }
        if callback:
            summary["progress"] = heard
        return summary
    if op == "list_prompts":
        return {"names": [prompt.name for prompt in (await client.list_prompts()).prompts]}
    if op == "get_prompt":
        result = await client.get_prompt(step["name"], step.get("arguments"))
        return {"messages": [{"role": m.role, **content_summary(m.content)} for m in result.messages]}
    if op == "list_resources":
        return {"uris": [resource.uri for resource in (await client.list_resources()).resources]}
    if op == "list_resource_templates":
        templates = (await client.list_resource_templates()).resource_templates
        return {"uriTemplates": [template.uri_template for template in templates]}
    if op == "read_resource":
        result = await client.read_resource(step["uri"])
        data = result.contents[0].model_dump(by_alias=True, exclude_none=True)
        return {key: data[key] for key in ("text", "blob", "mimeType") if key in data}
    raise ValueError(f"unknown op {op}")


async def main():
    url, mode = sys.argv[1], sys.argv[2]
    plan = json.load(sys.stdin)
    async with Client(
        url,
        mode=mode,
        sampling_callback=sampling,
        elicitation_callback=elicitation,
        cache=None,
    ) as client:
        results = []
        for step in plan:
            started = time.perf_counter()
            try:
                result = await run_step(client, step)
            except MCPError as error:
                result = {"error": {"code": error.error.code, "message": error.error.message}}
            if step.get("timed"):
                result["ms"] = (time.perf_counter() - started) * 1000
            results.append(result)
        info = client.server_info
        print(json.dumps({
            "protocolVersion": str(client.protocol_version),
            "serverName": info.name if info else None,
            "results": results,
        }))


asyncio.run(main())
