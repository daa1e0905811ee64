-- log-admissions.lua: one log line for every session that connects and every one that leaves,
-- with its address, transport, path and whether it carried a token. Decides nothing.
--
--   moq-relay relay.toml --lua /etc/moq-relay/log-admissions.lua
function on_session(req)
  moq.log("info", string.format("session %d from %s over %s (%s) path=/%s token=%s", req.id, req.remote,
    req.transport, req.protocol, req.path, req.jwt and (req.claims and "verified" or "unverified") or "none"))
  return nil
end

function on_event(ev)
  if ev.type == "session_closed" then
    moq.log("info", string.format("session %d from %s closed (code %d)", ev.session.id, ev.session.remote,
      ev.code or 0))
  end
end
