-- renew: extends the leases a worker still holds.
--
-- Guarantees: a lease is extended only while the job is leased under the given token; an
-- expired-and-recovered or finished job is reported lost (0) and left alone, so the old holder
-- learns it no longer owns the job. A constant number of commands per call.
--
-- ARGV: now_ms, lease_ms, then pairs id, token. Returns per pair 1 (renewed) or 0 (lost).
local deadline = clock(ARGV[1]) + tonumber(ARGV[2])
local ids = {}
for i = 3, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
local leases = column(C_LEASE, ids)
local out = {}
local renew = {}
for j, id in ipairs(ids) do
    local held = leases[j] and parse_lease(leases[j])
    if held and held == ARGV[2 + 2 * j] then
        renew[#renew + 1] = deadline
        renew[#renew + 1] = id
        out[#out + 1] = 1
    else
        out[#out + 1] = 0
    end
end
if #renew > 0 then
    for i = 1, #renew, 1000 do
        redis.call("ZADD", K_LEASE, "XX", unpack(renew, i, math.min(i + 999, #renew)))
    end
end
return out
