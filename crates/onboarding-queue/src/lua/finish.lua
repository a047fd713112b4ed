-- finish: applies the outcomes of leased jobs, fenced by their lease tokens.
--
-- Guarantees, per job and atomic per call:
-- * an outcome is applied only if the job is running under exactly the given token; a worker
--   whose lease expired (or whose job was already finished) gets "refused" and nothing changes,
--   so no outcome is ever applied twice;
-- * every applied outcome appends one history entry (attempt, worker, times, outcome, error);
-- * "done" keeps the job for retention: at most keep_count done jobs and none older than
--   keep_age_ms, trimmed here in bounded steps (at most 2 per applied outcome + 8 per call);
-- * "retry" schedules the next attempt at `at` (the caller's policy computed it) unless the
--   job has used all its attempts, in which case it becomes dead ("max attempts reached");
-- * "defer" schedules the job at `at` and gives back the attempt counted at fetch;
-- * "fail" makes the job dead at once with the given reason.
--
-- ARGV: now_ms, group_limit, keep_count, keep_age_ms, then per job 5 values:
--   op ("done"|"retry"|"defer"|"fail"), id, token, at_ms, text (error or reason)
-- Returns per job: 0 refused, 1 applied, 2 applied but the job went dead (max attempts).
local now = clock(ARGV[1])
local limit = tonumber(ARGV[2])
local keep_count = tonumber(ARGV[3])
local keep_age = tonumber(ARGV[4])
local out = {}
local trims = 8
for i = 5, #ARGV, 5 do
    local op, id, token, at, text = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4]
    local k = jkey(id)
    local state, held, g, p, attempts, max, w, since, h = lease_fields(id)
    if state ~= "running" or held ~= token then
        out[#out + 1] = 0
    else
        end_lease(id, g)
        local code = 1
        if op == "done" then
            zadd_later(K_DONE, now, id)
            redis.call("HSET", k, "state", "done", "ended_at", now, "lease", "",
                "h", history(h, "done", attempts, w, since, now, nil, nil))
            trims = trims + 2
        elseif op == "retry" then
            if attempts >= max then
                h = history(h, "exhausted", attempts, w, since, now, nil, text)
                redis.call("HSET", k, unpack(dead_fields(id,
                    "max attempts reached (" .. attempts .. "): " .. text, now, h)))
                code = 2
            else
                h = history(h, "retry", attempts, w, since, now, math.max(at, now), text)
                schedule(id, g, p, at, now, { "lease", "", "last_error", text, "h", h })
            end
        elseif op == "defer" then
            h = history(h, "deferred", attempts, w, since, now, math.max(at, now), text)
            schedule(id, g, p, at, now, { "lease", "", "attempts", attempts - 1, "h", h })
        else
            h = history(h, "failed", attempts, w, since, now, nil, text)
            redis.call("HSET", k, unpack(dead_fields(id, text, now, h)))
        end
        out[#out + 1] = code
    end
end
flush(limit)

-- Retention of done jobs, bounded.
local old = redis.call("ZRANGEBYSCORE", K_DONE, "-inf", now - keep_age, "LIMIT", 0, trims)
if #old > 0 then
    variadic("ZREM", K_DONE, old, 1000)
    delete_jobs(old)
end
trims = trims - #old
local excess = redis.call("ZCARD", K_DONE) - keep_count
if excess > 0 and trims > 0 then
    if excess > trims then excess = trims end
    local popped = redis.call("ZPOPMIN", K_DONE, excess)
    local ids = {}
    for j = 1, #popped, 2 do ids[#ids + 1] = popped[j] end
    delete_jobs(ids)
end
if admitted then
    redis.call("PUBLISH", P .. "wake", "1")
end
return out
