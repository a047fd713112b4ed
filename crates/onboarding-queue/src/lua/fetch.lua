-- fetch: leases up to n ready jobs to one worker, fairly across groups.
--
-- Guarantees, all in one atomic step:
-- * expired leases (worker gone) are recovered first, at most `recover` per call: the attempt
--   they spent stays counted; the job becomes ready again, or dead when it has no attempts left;
--   its old lease token is cleared, so the old holder's late outcome is refused;
-- * due scheduled jobs are promoted, at most `promote` per call (bounded work however many are
--   due; the rest follow on the next calls);
-- * each leased job gets a fresh fencing token (monotonic per queue), its attempt is counted
--   here, before any handler runs, and its lease deadline is now + lease_ms;
-- * groups are served round-robin within a priority class, classes strictly in order (0 first);
--   a group at its running limit is skipped and readmitted when one of its jobs ends.
-- Cost: O(log n) per job served, recovered or promoted; never a scan of a backlog.
--
-- ARGV: now_ms, worker, lease_ms, n, group_limit, promote, recover
-- Returns: {next_wake_ms, recovered, promoted, then per job 9 values:
--           id, token, attempts, max, group, prio, payload, meta, created}
-- next_wake_ms is the earliest scheduled run or lease deadline (0 if none) when nothing was
-- leased, so an idle worker knows when to look again.
local now = clock(ARGV[1])
local worker = ARGV[2]
local lease_ms = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
local promote = tonumber(ARGV[6])
local recover = tonumber(ARGV[7])

-- 1. Recover expired leases.
local expired = redis.call("ZRANGEBYSCORE", K_LEASE, "-inf", now, "LIMIT", 0, recover)
for _, id in ipairs(expired) do
    local state, _, g, p, attempts, max, w, since, h = lease_fields(id)
    if state ~= "running" then
        zrem_later(K_LEASE, id)
    else
        end_lease(id, g)
        h = history(h, "lease_expired", attempts, w, since, now, nil,
            "lease expired: the worker stopped renewing it")
        if attempts >= max then
            redis.call("HSET", jkey(id), unpack(dead_fields(id,
                "max attempts reached (" .. attempts .. "); the last attempt's lease expired", now, h)))
        else
            make_ready(id, g, p, now, { "lease", "", "h", h })
        end
    end
end

-- 2. Promote due scheduled jobs, in a bounded chunk.
local due = redis.call("ZRANGEBYSCORE", K_SCHED, "-inf", now, "LIMIT", 0, promote)
for _, id in ipairs(due) do
    zrem_later(K_SCHED, id)
    local f = redis.call("HMGET", jkey(id), "group", "prio")
    if f[1] then
        make_ready(id, f[1], tonumber(f[2]), now)
    end
end
flush(limit)

-- 3. Lease up to n jobs, round-robin over groups. A group alone in its ring gives several
-- jobs at once (nobody else is waiting in that class); otherwise one per turn.
local out = { 0, #expired, #due }
local got = 0
local deadline = now + lease_ms
local token = redis.call("INCRBY", P .. "seq", n) - n
local running_now = {}
for p = 0, NPRIO - 1 do
    while got < n do
        local popped = redis.call("ZPOPMIN", rrkey(p))
        if #popped == 0 then break end
        local g = popped[1]
        local running = running_now[g] or running_of(g)
        if limit == 0 or running < limit then
            local take = 1
            if redis.call("ZCARD", rrkey(p)) == 0 then
                take = n - got
                if limit > 0 and limit - running < take then take = limit - running end
            end
            local ids = redis.call("LPOP", qkey(p, g), take)
            if ids then
                for _, id in ipairs(ids) do
                    local k = jkey(id)
                    local f = redis.call("HMGET", k, "attempts", "max", "payload", "meta", "created")
                    local attempts = (tonumber(f[1]) or 0) + 1
                    token = token + 1
                    redis.call("HSET", k, "attempts", attempts, "state", "running", "lease", token,
                        "worker", worker, "leased_at", now, "deadline", deadline)
                    zadd_later(K_LEASE, deadline, id)
                    zrem_later(K_READY, id)
                    out[#out + 1] = id
                    out[#out + 1] = token
                    out[#out + 1] = attempts
                    out[#out + 1] = f[2]
                    out[#out + 1] = g
                    out[#out + 1] = p
                    out[#out + 1] = f[3]
                    out[#out + 1] = f[4]
                    out[#out + 1] = f[5]
                end
                got = got + #ids
                running = running + #ids
                running_now[g] = running
                run_later(g, #ids)
                -- Back to the ring's tail if it may have more (an empty list is dropped on its
                -- next turn).
                if #ids == take and (limit == 0 or running < limit) then
                    ring_admit(p, g)
                end
            end
        end
    end
end
flush(limit)

if got == 0 then
    local wake = 0
    local s = redis.call("ZRANGE", K_SCHED, 0, 0, "WITHSCORES")
    if #s > 0 then wake = tonumber(s[2]) end
    local l = redis.call("ZRANGE", K_LEASE, 0, 0, "WITHSCORES")
    if #l > 0 and (wake == 0 or tonumber(l[2]) < wake) then wake = tonumber(l[2]) end
    out[1] = wake
end
return out
