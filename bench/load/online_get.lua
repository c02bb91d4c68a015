-- wrk script: POST /get-online-features (Feast shape) with N random user ids x 15 features,
-- authenticated with the bearer token in $TESSERA_BENCH_TOKEN.
-- usage: wrk -t1 -c16 -d20s --latency -s online_get.lua http://127.0.0.1:6570 -- N_ENTITIES N_USERS [SEED]
local feats = {}
for j = 0, 9 do feats[#feats + 1] = '"user_stats:f' .. j .. '"' end
for j = 0, 4 do feats[#feats + 1] = '"user_stats:i' .. j .. '"' end
local feat_json = table.concat(feats, ",")
local n_ent, n_users = 1, 100000
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. (os.getenv("TESSERA_BENCH_TOKEN") or ""),
}

function init(args)
  n_ent = tonumber(args[1] or "1")
  n_users = tonumber(args[2] or "100000")
  math.randomseed(tonumber(args[3] or "1"))
end

function request()
  local ids = {}
  for i = 1, n_ent do ids[i] = tostring(math.random(0, n_users - 1)) end
  local body = '{"features":[' .. feat_json .. '],"entities":{"user_id":[' .. table.concat(ids, ",") .. ']}}'
  return wrk.format("POST", "/get-online-features", headers, body)
end
