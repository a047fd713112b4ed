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
    local f = redis.call("HMGET", k, "state", "lease")
    if f[1] ~= "running" or f[2] ~= token then
        out[#out + 1] = 0
    else
        local g, p, attempts, max, w, since = end_lease(id, limit)
        local entry = { attempt = attempts, worker = w, started_at = since, finished_at = now }
        local code = 1
        if op == "done" then
            entry.outcome = "done"
            redis.call("ZADD", P .. "done", now, id)
            redis.call("HSET", k, "state", "done", "ended_at", now)
            trims = trims + 2
        elseif op == "retry" then
            entry.error = text
            if attempts >= max then
                entry.outcome = "exhausted"
                bury(id, "max attempts reached (" .. attempts .. "): " .. text, now)
                code = 2
            else
                entry.outcome = "retry"
                entry.next_run_at = at
                redis.call("HSET", k, "last_error", text)
                schedule(id, g, p, at, now, limit)
            end
        elseif op == "defer" then
            entry.outcome = "deferred"
            entry.error = text
            entry.next_run_at = at
            redis.call("HINCRBY", k, "attempts", -1)
            schedule(id, g, p, at, now, limit)
        else
            entry.outcome = "failed"
            entry.error = text
            bury(id, text, now)
        end
        history(id, entry)
        out[#out + 1] = code
    end
end

-- Retention of done jobs, bounded.
local old = redis.call("ZRANGEBYSCORE", P .. "done", "-inf", now - keep_age, "LIMIT", 0, trims)
for _, id in ipairs(old) do
    redis.call("ZREM", P .. "done", id)
    delete_job(id)
end
trims = trims - #old
local excess = redis.call("ZCARD", P .. "done") - keep_count
if excess > 0 and trims > 0 then
    if excess > trims then excess = trims end
    local ids = redis.call("ZRANGE", P .. "done", 0, excess - 1)
    for _, id in ipairs(ids) do
        redis.call("ZREM", P .. "done", id)
        delete_job(id)
    end
end
if admitted then
    redis.call("PUBLISH", P .. "wake", "1")
end
return out
