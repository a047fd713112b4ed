-- enqueue: stores new jobs and makes them ready or schedules them.
--
-- Guarantees: atomic per call; a job with an idempotency key that is already known (in Redis
-- or earlier in the same call) is not stored again and the existing job's id is returned
-- instead (flag 1); a caller-chosen id that exists is never overwritten (flag 1); a ready job
-- is visible to fetch as soon as the call returns; one "wake" message is published per call
-- that gave a group new fetchable work (idle workers listen for it). Cost: a constant number
-- of commands per call plus O(log n) per job (no scans).
--
-- ARGV: now_ms, group_limit, check_ids (1 when some ids were chosen by the caller), then per
-- job 8 values: id, group, prio, run_at_ms (0 = now), max_attempts, idem ("" = none), payload,
-- meta ("" = none)
-- Returns: per job {id, duplicate 0/1}.
local now = clock(ARGV[1])
local limit = tonumber(ARGV[2])
local check_ids = ARGV[3] == "1"
local now_s = tostring(now)
local out = {}
local idem_of = {}
local idem_keys = {}
for i = 4, #ARGV, 8 do
    if ARGV[i + 5] ~= "" then idem_keys[#idem_keys + 1] = ARGV[i + 5] end
end
if #idem_keys > 0 then
    local known = column(P .. "idem", idem_keys)
    for j, k in ipairs(idem_keys) do
        -- A key whose job was deleted (retention) no longer counts.
        if known[j] and redis.call("HEXISTS", C_GROUP, known[j]) == 1 then
            idem_of[k] = known[j]
        end
    end
end
local payloads, metas, groups = {}, {}, {}
for i = 4, #ARGV, 8 do
    local id, g, p = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
    local at, max, idem = tonumber(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5]
    local existing = idem ~= "" and idem_of[idem]
    if not existing and check_ids and redis.call("HEXISTS", C_GROUP, id) == 1 then
        existing = id
    end
    if existing then
        out[#out + 1] = existing
        out[#out + 1] = 1
    else
        if idem ~= "" then
            idem_of[idem] = id
            hset_later(P .. "idem", idem, id)
            hset_later(P .. "idemof", id, idem)
        end
        payloads[#payloads + 1] = id
        payloads[#payloads + 1] = ARGV[i + 6]
        if ARGV[i + 7] ~= "" then
            metas[#metas + 1] = id
            metas[#metas + 1] = ARGV[i + 7]
        end
        groups[#groups + 1] = id
        groups[#groups + 1] = ARGV[i + 2] .. "|" .. max .. "|" .. now_s .. "|" .. g
        schedule(id, g, p, at, now)
        out[#out + 1] = id
        out[#out + 1] = 0
    end
end
if #payloads > 0 then
    variadic("HSET", C_PAYLOAD, payloads, 1000)
    variadic("HSET", C_GROUP, groups, 1000)
end
if #metas > 0 then variadic("HSET", C_META, metas, 1000) end
flush(limit)
if admitted then
    redis.call("PUBLISH", P .. "wake", "1")
end
return out
