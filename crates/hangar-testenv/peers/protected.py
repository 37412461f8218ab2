"""An MCP server on the official Python SDK that authorizes as a resource
server should: it takes only JWT access tokens its issuer signed for its own
audience (checked against the issuer's JWKS), answers anything else with 401
and its RFC 9728 metadata, and refuses the subjects it is told to.

Usage: python protected.py PORT ISSUER AUDIENCE [REFUSED_SUBJECT...]
The MCP tool `whoami` (at /mcp) and the plain HTTP endpoint /api/whoami (for
declared tools) answer with the verified token's claims and the identity
headers the gateway forwards.
"""

import sys

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer

port, issuer, audience, *refused = sys.argv[1:]
keys = jwt.PyJWKClient(f"{issuer}/jwks", cache_keys=True)


class Verifier:
    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            key = keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=issuer)
        except jwt.PyJWTError:
            return None
        if claims.get("sub") in refused:
            return None
        return AccessToken(
            token=token,
            client_id=claims.get("client_id", ""),
            scopes=claims.get("scope", "").split(),
            expires_at=claims.get("exp"),
            subject=claims.get("sub"),
            claims=claims,
        )


server = MCPServer(
    name="protected",
    version="1.0.0",
    token_verifier=Verifier(),
    auth=AuthSettings(
        issuer_url=issuer,
        resource_server_url=f"http://127.0.0.1:{port}/mcp",
        validate_token_resource=False,
    ),
)


@server.tool()
def whoami(ctx: Context) -> dict:
    """The verified token's claims and the forwarded identity headers."""
    from mcp.server.auth.middleware.auth_context import get_access_token

    token = get_access_token()
    headers = ctx.headers or {}
    return {
        "claims": token.claims if token else None,
        "subject": headers.get("x-hangar-subject"),
        "scopes": headers.get("x-hangar-scopes"),
    }


@server.custom_route("/api/whoami", methods=["GET", "POST"])
async def api_whoami(request: Request) -> JSONResponse:
    """As the tool, for a plain HTTP client; a refusal says what it wants (RFC 9728)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    verified = await Verifier().verify_token(token) if scheme.lower() == "bearer" else None
    if verified is None:
        metadata = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"
        challenge = (
            'Bearer error="invalid_token", error_description="no token for this audience", '
            f'resource_metadata="{metadata}"'
        )
        return JSONResponse({"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": challenge})
    return JSONResponse(
        {
            "claims": verified.claims,
            "subject": request.headers.get("x-hangar-subject"),
            "scopes": request.headers.get("x-hangar-scopes"),
        }
    )


server.run("streamable-http", host="127.0.0.1", port=int(port))
