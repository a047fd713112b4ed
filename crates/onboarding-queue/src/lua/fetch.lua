-- fetch: leases up to n ready jobs to one worker, fairly across groups.
--
-- Guarantees, all in one atomic step:
-- * expired leases (worker gone) are recovered first, at most `recover` per call: the attempt
--   they spent stays counted; the job becomes ready again, or dead when it has no attempts left;
--   its lease is cleared, so the old holder's late outcome is refused;
-- * due scheduled jobs are promoted, at most `promote` per call (bounded work however many are
--   due; the rest follow on the next calls), and can be leased by this same call;
-- * each leased job gets a fresh fencing token (monotonic per queue), its attempt is counted
--   here, before any handler runs, and its lease deadline is now + lease_ms;
-- * groups are served round-robin within a priority class, classes strictly in order (0 first);
--   a group at its running limit is skipped and readmitted when one of its jobs ends.
-- * a retry of a fetch (same ticket) whose first try ran but whose reply was lost returns the
--   jobs that try leased (those still leased under its tokens) and leases nothing more, so a
--   timeout never strands jobs until their lease expires; the record of the last ticket per
--   worker lives as long as a lease.
-- Cost: a constant number of commands per call plus O(log n) per job served, recovered or
-- promoted; never a scan of a backlog.
--
-- ARGV: now_ms, worker, lease_ms, n, group_limit, promote, recover, ticket
-- Returns: {next_wake_ms, recovered, promoted, then per job 5 values:
--           id, token, attempts, "prio|max|created|group", payload, meta}
-- next_wake_ms is the earliest scheduled run or lease deadline (0 if none) when nothing was
-- leased, so an idle worker knows when to look again.
local now = clock(ARGV[1])
local worker = ARGV[2]
local lease_ms = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
local promote = tonumber(ARGV[6])
local recover = tonumber(ARGV[7])
local ticket = ARGV[8]
local last = P .. "lf:" .. worker

-- Jobs for the reply: per job id, token, attempts, "prio|max|created|group", payload, meta.
local function reply(out, ids, tokens, attempts)
    local payloads, metas, gs = column(C_PAYLOAD, ids), column(C_META, ids), column(C_GROUP, ids)
    for j, id in ipairs(ids) do
        out[#out + 1] = id
        out[#out + 1] = tokens[j]
        out[#out + 1] = attempts[j]
        out[#out + 1] = gs[j]
        out[#out + 1] = payloads[j]
        out[#out + 1] = metas[j] or ""
    end
end

-- 0. A retried ticket gets what its first try leased.
local rec = redis.call("GET", last)
if rec and string.sub(rec, 1, #ticket + 1) == ticket .. "\31" then
    local ids, tokens = {}, {}
    for id, token in string.gmatch(string.sub(rec, #ticket + 2), "([^\31]+)\31(%d+)\31") do
        ids[#ids + 1] = id
        tokens[#tokens + 1] = token
    end
    local out = { 0, 0, 0 }
    if #ids > 0 then
        local leases, attempts = column(C_LEASE, ids), column(C_ATTEMPTS, ids)
        local keep, keep_tokens, keep_attempts = {}, {}, {}
        for j, id in ipairs(ids) do
            if leases[j] and parse_lease(leases[j]) == tokens[j] then
                keep[#keep + 1] = id
                keep_tokens[#keep_tokens + 1] = tokens[j]
                keep_attempts[#keep_attempts + 1] = attempts[j]
            end
        end
        if #keep > 0 then reply(out, keep, keep_tokens, keep_attempts) end
    end
    return out
end

-- 1. Recover expired leases.
local expired = redis.call("ZRANGEBYSCORE", K_LEASE, "-inf", now, "LIMIT", 0, recover)
if #expired > 0 then
    local leases, attempts, gs, hs = column(C_LEASE, expired), column(C_ATTEMPTS, expired),
        column(C_GROUP, expired), column(C_HIST, expired)
    for j, id in ipairs(expired) do
        zrem_later(K_LEASE, id)
        if leases[j] and gs[j] then
            local _, w, since = parse_lease(leases[j])
            local p, max, _, g = parse_g(gs[j])
            local a = tonumber(attempts[j] or "0")
            hdel_later(C_LEASE, id)
            run_later(g, -1)
            hset_later(C_HIST, id, history(hs[j], "lease_expired", a, w, since, now, nil,
                "lease expired: the worker stopped renewing it"))
            if a >= max then
                bury(id, "max attempts reached (" .. a .. "); the last attempt's lease expired", now)
            else
                make_ready(id, g, p, now)
            end
        end
    end
end

-- 2. Promote due scheduled jobs, in a bounded chunk.
local due = redis.call("ZRANGEBYSCORE", K_SCHED, "-inf", now, "LIMIT", 0, promote)
if #due > 0 then
    local gs = column(C_GROUP, due)
    for j, id in ipairs(due) do
        zrem_later(K_SCHED, id)
        if gs[j] then
            local p, _, _, g = parse_g(gs[j])
            make_ready(id, g, p, now)
        end
    end
end
flush(limit)

-- 3. Choose up to n jobs, round-robin over groups. A group alone in its ring gives several
-- jobs at once (nobody else is waiting in that class); otherwise one per turn.
local chosen = {}
local running_now = {}
for p = 0, NPRIO - 1 do
    while #chosen < n do
        local popped = redis.call("ZPOPMIN", rrkey(p))
        if #popped == 0 then break end
        local g = popped[1]
        local running = running_now[g] or running_of(g)
        if limit == 0 or running < limit then
            local take = 1
            if redis.call("ZCARD", rrkey(p)) == 0 then
                take = n - #chosen
                if limit > 0 and limit - running < take then take = limit - running end
            end
            local ids = redis.call("LPOP", qkey(p, g), take)
            if ids then
                for _, id in ipairs(ids) do chosen[#chosen + 1] = id end
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

-- 4. Lease them: attempts counted, tokens, deadlines, one command per column.
local out = { 0, #expired, #due }
if #chosen > 0 then
    local deadline = now + lease_ms
    local token = redis.call("INCRBY", P .. "seq", #chosen) - #chosen
    local tail = "|" .. worker .. "|" .. now
    local attempts = column(C_ATTEMPTS, chosen)
    local tokens, counted = {}, {}
    local record = { ticket }
    for j, id in ipairs(chosen) do
        local a = tonumber(attempts[j] or "0") + 1
        token = token + 1
        tokens[j] = token
        counted[j] = a
        record[#record + 1] = id .. "\31" .. token
        hset_later(C_ATTEMPTS, id, a)
        hset_later(C_LEASE, id, token .. tail)
        zadd_later(K_LEASE, deadline, id)
        zrem_later(K_READY, id)
    end
    reply(out, chosen, tokens, counted)
    redis.call("SET", last, table.concat(record, "\31") .. "\31", "PX", lease_ms)
end
flush(limit)

if #chosen == 0 then
    local wake = 0
    local s = redis.call("ZRANGE", K_SCHED, 0, 0, "WITHSCORES")
    if #s > 0 then wake = tonumber(s[2]) end
    local l = redis.call("ZRANGE", K_LEASE, 0, 0, "WITHSCORES")
    if #l > 0 and (wake == 0 or tonumber(l[2]) < wake) then wake = tonumber(l[2]) end
    out[1] = wake
end
return out
