-- allow-list.lua: who may publish and watch where, by path prefix.
--
--   moq-relay relay.toml --lua /etc/moq-relay/allow-list.lua
--
-- Sessions are admitted by the relay's usual rules (tokens, --auth-public); this script then
-- refuses announcements and subscriptions outside the lists below. Paths are segment-aware:
-- "live" covers "live/cam1" but not "lively".
local PUBLISH = { "live", "studio" }  -- broadcasts may only be published under these
local WATCH = { "live", "replay" }    -- and only watched under these

local function allowed(list, path)
  for _, prefix in ipairs(list) do
    if moq.path_has_prefix(path, prefix) then return true end
  end
  return false
end

function on_announce(session, path)
  if allowed(PUBLISH, path) then return nil end -- no objection: the session's grants decide
  moq.log("info", "refused publishing " .. path .. " from " .. session.remote)
  return false, "publishing is not allowed under " .. path
end

function on_subscribe(session, path, track)
  if allowed(WATCH, path) then return nil end
  return false, "watching is not allowed under " .. path
end
