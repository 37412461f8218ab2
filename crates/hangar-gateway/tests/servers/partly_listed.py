"""An MCP server on the official Python SDK whose lists leave out part of what
it serves, as servers with hidden or dynamically added tools do: `tools/list`
shows only `listed`, `prompts/list` nothing, yet `hidden_echo` and the prompt
`hidden_greeting` answer when called.

Usage: python partly_listed.py    (stdio)
"""

from mcp.server.mcpserver import MCPServer


class PartlyListed(MCPServer):
    async def list_tools(self):
        return [tool for tool in await super().list_tools() if not tool.name.startswith("hidden")]

    async def list_prompts(self):
        return [prompt for prompt in await super().list_prompts() if not prompt.name.startswith("hidden")]


server = PartlyListed(name="partly-listed", version="1.0.0")


@server.tool()
def listed() -> str:
    """The one tool in the list."""
    return "listed"


@server.tool()
def hidden_echo(text: str) -> str:
    """Not in the list."""
    return f"hidden: {text}"


@server.prompt()
def hidden_greeting(name: str) -> str:
    """Not in the list."""
    return f"Hello {name}, from a prompt nobody listed"


server.run("stdio")
