-- renew: extends the leases a worker still holds.
--
-- Guarantees: a lease is extended only while the job is running under the given token; an
-- expired-and-recovered or finished job is reported lost (0) and left alone, so the old holder
-- learns it no longer owns the job. Constant cost per job.
--
-- ARGV: now_ms, lease_ms, then pairs id, token. Returns per pair 1 (renewed) or 0 (lost).
local deadline = clock(ARGV[1]) + tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 2 do
    local id, token = ARGV[i], ARGV[i + 1]
    local f = redis.call("HMGET", jkey(id), "state", "lease")
    if f[1] == "running" and f[2] == token then
        redis.call("ZADD", K_LEASE, "XX", deadline, id)
        redis.call("HSET", jkey(id), "deadline", deadline)
        out[#out + 1] = 1
    else
        out[#out + 1] = 0
    end
end
return out
