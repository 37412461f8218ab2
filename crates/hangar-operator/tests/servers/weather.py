"""A small MCP server on the official Python SDK (mcp 2.x), over Streamable HTTP.

Usage: python weather.py PORT
"""

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer(name="weather-py", version="1.2.3")


@server.tool()
def forecast(city: str) -> str:
    """Tomorrow's weather for a city."""
    return f"Sunny in {city}"


@server.tool()
def alerts(region: str) -> str:
    """Weather alerts for a region."""
    return f"No alerts for {region}"


server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
