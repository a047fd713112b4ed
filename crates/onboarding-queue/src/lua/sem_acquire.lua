-- sem_acquire: takes one permit of a counted semaphore, leased until now + ttl.
--
-- Guarantees: at most `limit` unexpired holders at any time, across all workers (the check
-- and the take are one atomic step); holders whose lease expired (crashed or stuck) are
-- dropped first, so their permits come back by themselves. Cost: O(log n) in the number of
-- holders, which is at most `limit` plus the expired ones being dropped.
--
-- KEYS[1]: queue prefix. ARGV: now_ms (0 = server clock), semaphore key, limit, ttl_ms, token
-- Returns {1, 0} when taken, or {0, earliest_expiry_ms} when all permits are held.
local now = clock(ARGV[1])
local k = P .. "sem:" .. ARGV[2]
local limit, ttl, token = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
redis.call("ZREMRANGEBYSCORE", k, "-inf", now)
if redis.call("ZSCORE", k, token) or redis.call("ZCARD", k) < limit then
    redis.call("ZADD", k, now + ttl, token)
    if redis.call("PTTL", k) < ttl * 2 + 1000 then redis.call("PEXPIRE", k, ttl * 2 + 1000) end
    return { 1, 0 }
end
local first = redis.call("ZRANGE", k, 0, 0, "WITHSCORES")
return { 0, tonumber(first[2]) }
