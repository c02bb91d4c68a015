-- wrk script: POST /push of one row (random user, all 15 features), authenticated with the
-- bearer token in $TESSERA_BENCH_TOKEN.
-- usage: wrk -t1 -c16 -d20s --latency -s online_push.lua http://127.0.0.1:6570 -- N_USERS [SEED]
local n_users = 100000
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. (os.getenv("TESSERA_BENCH_TOKEN") or ""),
}

function init(args)
  n_users = tonumber(args[1] or "100000")
  math.randomseed(tonumber(args[2] or "1"))
end

function request()
  local u = math.random(0, n_users - 1)
  local body = '{"push_source_name":"user_stats_src","to":"online","df":{"user_id":[' .. u ..
    '],"event_timestamp":["2026-04-02T00:00:00"],"created":["2026-04-02T00:00:00"],' ..
    '"f0":[0.5],"f1":[1.5],"f2":[2.5],"f3":[3.5],"f4":[4.5],"f5":[5.5],"f6":[6.5],"f7":[7.5],"f8":[8.5],"f9":[9.5],' ..
    '"i0":[1],"i1":[2],"i2":[3],"i3":[4],"i4":[5]}}'
  return wrk.format("POST", "/push", headers, body)
end
