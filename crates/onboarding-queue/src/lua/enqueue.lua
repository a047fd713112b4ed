-- enqueue: stores new jobs and makes them ready or schedules them.
--
-- Guarantees: atomic per call; a job with an idempotency key that is already known is not
-- stored again and the existing job's id is returned instead (flag 1); a ready job is visible
-- to fetch as soon as the call returns; one "wake" message is published per call that gave
-- a group new fetchable work (idle workers listen for it). Cost per job is constant (no scans).
--
-- ARGV: now_ms, group_limit, check_ids (1 when some ids were chosen by the caller), then per
-- job 8 values:
--   id, group, prio, run_at_ms (0 = now), max_attempts, idem ("" = none), payload, meta
-- Returns: per job {id, duplicate 0/1}.
local now = clock(ARGV[1])
local limit = tonumber(ARGV[2])
local check_ids = ARGV[3] == "1"
local out = {}
local qkeys = {}
for i = 4, #ARGV, 8 do
    local id, g, p = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
    local at, max, idem = tonumber(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5]
    local existing = false
    if idem ~= "" then
        existing = redis.call("HGET", P .. "idem", idem)
        if existing and redis.call("EXISTS", jkey(existing)) == 0 then
            existing = false
        end
    end
    -- A caller-chosen id that already exists is a duplicate too: never overwrite a job.
    if not existing and check_ids and redis.call("EXISTS", jkey(id)) == 1 then
        existing = id
    end
    if existing then
        out[#out + 1] = existing
        out[#out + 1] = 1
    else
        if idem ~= "" then
            redis.call("HSET", P .. "idem", idem, id)
            redis.call("HSET", P .. "idemof", id, idem)
        end
        -- Written inline (not through schedule()) to keep the per-job work to one HSET.
        local k = jkey(id)
        if at <= now then
            redis.call("HSET", k, "state", "ready", "run_at", now, "payload", ARGV[i + 6],
                "meta", ARGV[i + 7], "group", g, "prio", p, "max", max, "created", now, "idem", idem)
            local qk = qkeys[p .. g]
            if not qk then
                qk = qkey(p, g)
                qkeys[p .. g] = qk
                want_ring[p .. ":" .. g] = { p, g }
            end
            push_later(qk, id)
            zadd_later(K_READY, now, id)
        else
            redis.call("HSET", k, "state", "scheduled", "run_at", at, "payload", ARGV[i + 6],
                "meta", ARGV[i + 7], "group", g, "prio", p, "max", max, "created", now, "idem", idem)
            zadd_later(K_SCHED, at, id)
        end
        out[#out + 1] = id
        out[#out + 1] = 0
    end
end
flush(limit)
if admitted then
    redis.call("PUBLISH", P .. "wake", "1")
end
return out
