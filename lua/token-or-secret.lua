-- token-or-secret.lua: admit a session that carries a valid moq-token JWT, or a shared secret.
--
--   moq-relay relay.toml --lua /etc/moq-relay/token-or-secret.lua
--
-- Clients connect to  https://relay.example.com/room?jwt=TOKEN      (a token signed with the key)
--                 or  https://relay.example.com/room?secret=SECRET  (everything under /room)
-- Edit the two settings below.
local KEY_FILE = "/etc/moq-relay/root.jwk"   -- the JWK that verifies tokens (moq-token generate)
local SECRET = os.getenv("MOQ_SHARED_SECRET") -- the shared secret; unset = tokens only

function on_session(req)
  if req.jwt then
    -- The relay's jwt plugin (--auth-key) already verified it when req.claims is set.
    if req.claims then return nil end
    local claims, err = moq.jwt_verify(req.jwt, KEY_FILE)
    if not claims then return false, "invalid token: " .. err end
    -- The grants read like the token's claims; the relay scopes them to the path as it scopes tokens.
    return { root = claims.root, publish = claims.put, subscribe = claims.get, expires = claims.exp }
  end
  if SECRET and req.query.secret == SECRET then
    -- Full access under the path the client connected to.
    return { publish = { "" }, subscribe = { "" } }
  end
  return false, "a token or the shared secret is required"
end
