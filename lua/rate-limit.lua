-- rate-limit.lua: at most MAX_PER_ADDRESS sessions at once, and at most MAX_PER_MINUTE new
-- sessions a minute, per client IP address.
--
--   moq-relay relay.toml --lua /etc/moq-relay/rate-limit.lua
--
-- It has no opinion on sessions within the limits: the relay's other rules still decide.
local MAX_PER_ADDRESS = 20
local MAX_PER_MINUTE = 60

local open = {}    -- address -> sessions open now
local recent = {}  -- address -> sessions started in the current minute

local function address(remote)
  return remote:match("^%[(.*)%]:%d+$") or remote:match("^(.*):%d+$") or remote
end

function on_session(req)
  local a = address(req.remote)
  if (open[a] or 0) >= MAX_PER_ADDRESS then
    return false, "too many sessions from " .. a
  end
  if (recent[a] or 0) >= MAX_PER_MINUTE then
    return false, "too many new sessions from " .. a .. "; try again in a minute"
  end
  recent[a] = (recent[a] or 0) + 1
  return nil
end

function on_event(ev)
  if ev.type == "session_open" then
    local a = address(ev.session.remote)
    open[a] = (open[a] or 0) + 1
  elseif ev.type == "session_closed" and ev.session then
    local a = address(ev.session.remote)
    open[a] = (open[a] or 1) - 1
    if open[a] <= 0 then open[a] = nil end
  end
end

-- Forget the per-minute counts every minute.
local function reset()
  recent = {}
  moq.timer(60000, reset)
end
moq.timer(60000, reset)
