-- finish: applies the outcomes of leased jobs, fenced by their lease tokens.
--
-- Guarantees, per job and atomic per call:
-- * an outcome is applied only if the job is leased under exactly the given token; a worker
--   whose lease expired gets "refused" and nothing changes, so no outcome is ever applied
--   twice; the same outcome reported again with the same token (a retry after a lost reply)
--   gets the answer the first report got, and changes nothing;
-- * every applied outcome appends one history entry (attempt, worker, times, outcome, error);
-- * "done" keeps the job for retention: at most keep_count done jobs and none older than
--   keep_age_ms, trimmed here in bounded steps (at most 2 per applied outcome + 8 per call);
-- * "retry" schedules the next attempt at `at` (the caller's policy computed it) unless the
--   job has used all its attempts, in which case it becomes dead ("max attempts reached");
-- * "defer" schedules the job at `at` and gives back the attempt counted at fetch;
-- * "fail" makes the job dead at once with the given reason.
-- Cost: a constant number of commands per call plus O(log n) per job.
--
-- ARGV: now_ms, group_limit, keep_count, keep_age_ms, then per job 5 values:
--   op ("done"|"retry"|"defer"|"fail"), id, token, at_ms, text (error or reason)
-- Returns per job: 0 refused, 1 applied, 2 applied but the job went dead (max attempts).
local now = clock(ARGV[1])
local limit = tonumber(ARGV[2])
local keep_count = tonumber(ARGV[3])
local keep_age = tonumber(ARGV[4])
local ids = {}
for i = 5, #ARGV, 5 do ids[#ids + 1] = ARGV[i + 1] end
local leases, attempts, gs, hs = column(C_LEASE, ids), column(C_ATTEMPTS, ids),
    column(C_GROUP, ids), column(C_HIST, ids)
local out = {}
local ended = {}
local trims = 8
for j, id in ipairs(ids) do
    local i = 5 + (j - 1) * 5
    local op, token, at, text = ARGV[i], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4]
    local held, w, since
    if leases[j] and not ended[id] then held, w, since = parse_lease(leases[j]) end
    if held ~= token or not gs[j] then
        -- Not leased under this token: a repeat of the outcome already applied with it gets
        -- the same answer; anything else is refused.
        local code = 0
        if not ended[id] and leases[j] then
            local ft, fop, fc = string.match(leases[j], "^F:(%d+):(%a+):(%d)$")
            if ft == token and fop == op then code = tonumber(fc) end
        end
        out[#out + 1] = code
    else
        ended[id] = true
        local p, max, _, g = parse_g(gs[j])
        local a = tonumber(attempts[j] or "0")
        local h = hs[j]
        zrem_later(K_LEASE, id)
        run_later(g, -1)
        local code = 1
        if op == "done" then
            zadd_later(K_DONE, now, id)
            h = history(h, "done", a, w, since, now, nil, nil)
            trims = trims + 2
        elseif op == "retry" then
            if a >= max then
                h = history(h, "exhausted", a, w, since, now, nil, text)
                bury(id, "max attempts reached (" .. a .. "): " .. text, now)
                code = 2
            else
                h = history(h, "retry", a, w, since, now, math.max(at, now), text)
                schedule(id, g, p, at, now)
            end
        elseif op == "defer" then
            h = history(h, "deferred", a, w, since, now, math.max(at, now), text)
            hset_later(C_ATTEMPTS, id, a - 1)
            schedule(id, g, p, at, now)
        else
            h = history(h, "failed", a, w, since, now, nil, text)
            bury(id, text, now)
        end
        hset_later(C_HIST, id, h)
        hset_later(C_LEASE, id, "F:" .. token .. ":" .. op .. ":" .. code)
        out[#out + 1] = code
    end
end
flush(limit)

-- Retention of done jobs, bounded.
local old = redis.call("ZRANGEBYSCORE", K_DONE, "-inf", now - keep_age, "LIMIT", 0, trims)
if #old > 0 then
    variadic("ZREM", K_DONE, old, 1000)
    delete_jobs(old, false)
end
trims = trims - #old
local excess = redis.call("ZCARD", K_DONE) - keep_count
if excess > 0 and trims > 0 then
    if excess > trims then excess = trims end
    local popped = redis.call("ZPOPMIN", K_DONE, excess)
    local gone = {}
    for k = 1, #popped, 2 do gone[#gone + 1] = popped[k] end
    delete_jobs(gone, false)
end
if admitted then
    redis.call("PUBLISH", P .. "wake", "1")
end
return out
