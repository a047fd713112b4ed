-- hourly: a rolling one-hour counter per key, in one-minute buckets.
--
-- Guarantees: the check and the increment are one atomic step, so concurrent callers never
-- exceed `limit` together within any rolling hour (to the minute); buckets older than an hour
-- are dropped on every call, so the hash holds at most 61 fields (constant cost).
--
-- KEYS[1]: queue prefix. ARGV: now_ms (0 = server clock), counter key, amount, limit
-- (0 = no limit, just count). Returns {1 if added else 0, total in the last hour after the call}.
local now = clock(ARGV[1])
local k = P .. "hr:" .. ARGV[2]
local amount, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local minute = math.floor(now / 60000)
local total = 0
local fields = redis.call("HGETALL", k)
for i = 1, #fields, 2 do
    local m = tonumber(fields[i])
    if m <= minute - 60 then
        redis.call("HDEL", k, fields[i])
    else
        total = total + tonumber(fields[i + 1])
    end
end
if amount > 0 and (limit == 0 or total + amount <= limit) then
    redis.call("HINCRBY", k, minute, amount)
    redis.call("PEXPIRE", k, 3660000)
    return { 1, total + amount }
end
return { 0, total }
