-- requeue: brings dead-letter jobs back, each at its own time (paced retries).
--
-- Guarantees: only jobs currently dead are touched (a job retried twice is requeued once);
-- a requeued job keeps its history, gets a "requeued" entry and a fresh attempt budget
-- (attempts reset to 0; the history still shows every earlier attempt). Constant cost per job.
--
-- ARGV: now_ms, group_limit, then pairs id, run_at_ms. Returns the number requeued.
local now = clock(ARGV[1])
local limit = tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV, 2 do
    local id, at = ARGV[i], tonumber(ARGV[i + 1])
    local f = redis.call("HMGET", jkey(id), "state", "group", "prio", "reason", "h")
    if f[1] == "dead" then
        zrem_later(K_DEAD, id)
        local h = history(f[5], "requeued", nil, nil, nil, now, math.max(at, now), f[4])
        schedule(id, f[2], tonumber(f[3]), at, now,
            { "attempts", 0, "reason", "", "ended_at", "", "h", h })
        n = n + 1
    end
end
flush(limit)
if admitted then
    redis.call("PUBLISH", P .. "wake", "1")
end
return n
