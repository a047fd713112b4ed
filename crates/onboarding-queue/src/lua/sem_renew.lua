-- sem_renew: extends a held permit's lease, or releases it.
--
-- Guarantees: a permit whose lease already expired is never revived (renew returns 0), so a
-- holder that stalled past its lease cannot push the count over the limit. Constant cost.
--
-- KEYS[1]: queue prefix. ARGV: now_ms (0 = server clock), semaphore key, token, ttl_ms
-- (0 = release). Returns 1 if the permit was held (and is now renewed or released), else 0.
local now = clock(ARGV[1])
local k = P .. "sem:" .. ARGV[2]
local token, ttl = ARGV[3], tonumber(ARGV[4])
local until_ms = redis.call("ZSCORE", k, token)
if not until_ms or tonumber(until_ms) <= now then
    redis.call("ZREM", k, token)
    return 0
end
if ttl == 0 then
    redis.call("ZREM", k, token)
    redis.call("PUBLISH", P .. "semfree", ARGV[2])
else
    redis.call("ZADD", k, now + ttl, token)
    if redis.call("PTTL", k) < ttl * 2 + 1000 then redis.call("PEXPIRE", k, ttl * 2 + 1000) end
end
return 1
