-- wrk script of the gateway benchmark: POSTs one JSON-RPC request per call,
-- each with a fresh id, spreading calls over the session ids it is given.
-- Arguments (after `--`): the body with ID where the id goes, then
-- `header: value` lines, then `session=<id>` entries (none for stateless).
local body_head, body_tail
local headers = {}
local sessions = {}
local counter = 0

function init(args)
  body_head, body_tail = args[1]:match("^(.*)ID(.*)$")
  for i = 2, #args do
    local session = args[i]:match("^session=(.*)$")
    if session then
      sessions[#sessions + 1] = session
    else
      local name, value = args[i]:match("^([^:]+):%s*(.*)$")
      headers[name] = value
    end
  end
end

function request()
  counter = counter + 1
  if #sessions > 0 then
    headers["Mcp-Session-Id"] = sessions[(counter % #sessions) + 1]
  end
  return wrk.format("POST", nil, headers, body_head .. counter .. body_tail)
end
