-- requeue: brings dead-letter jobs back, each at its own time (paced retries).
--
-- Guarantees: only jobs currently dead are touched (a job retried twice is requeued once);
-- a requeued job keeps its history, gets a "requeued" entry and a fresh attempt budget
-- (attempts reset to 0; the history still shows every earlier attempt). A constant number of
-- commands per call plus O(log n) per job.
--
-- ARGV: now_ms, group_limit, then pairs id, run_at_ms. Returns the number requeued.
local now = clock(ARGV[1])
local limit = tonumber(ARGV[2])
local ids = {}
for i = 3, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return 0 end
local dead = variadic("ZMSCORE", K_DEAD, ids, 1000)
local gs, hs, rs = column(C_GROUP, ids), column(C_HIST, ids), column(C_REASON, ids)
local n = 0
local seen = {}
for j, id in ipairs(ids) do
    if dead[j] and gs[j] and not seen[id] then
        seen[id] = true
        local at = tonumber(ARGV[2 + 2 * j])
        local p, _, _, g = parse_g(gs[j])
        zrem_later(K_DEAD, id)
        hdel_later(C_REASON, id)
        hdel_later(C_ATTEMPTS, id)
        hset_later(C_HIST, id, history(hs[j], "requeued", nil, nil, nil, now, math.max(at, now),
            rs[j] or ""))
        schedule(id, g, p, at, now)
        n = n + 1
    end
end
flush(limit)
if admitted then
    redis.call("PUBLISH", P .. "wake", "1")
end
return n
