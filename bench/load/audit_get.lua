-- wrk script: POST /get-online-features on the demo repository (`tessera init`): one user,
-- four of its features, authenticated as `ranker` with the token in $TESSERA_TOKEN_RANKER.
-- usage: wrk -t1 -c16 -d10s --latency -s audit_get.lua http://127.0.0.1:6571
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. (os.getenv("TESSERA_TOKEN_RANKER") or ""),
}
math.randomseed(1)

function request()
  local body = '{"features":["user_activity:plays_1d","user_activity:skips_1d","user_activity:avg_dwell_s_1d","user_activity:top_genre_1d"],"entities":{"user_id":[' .. math.random(1, 1000) .. ']}}'
  return wrk.format("POST", "/get-online-features", headers, body)
end
