-- Shared helpers, prepended to every script of onboarding-queue (see scripts.rs).
--
-- KEYS[1] is the queue prefix "oq:{name}:" itself. Every key a script touches is derived from
-- it, so all of them carry the same hash tag and live in one Redis Cluster slot. No helper
-- runs a command whose cost grows with the backlog: lists are popped at one end, sorted sets
-- are read by score with a LIMIT, hashes are read by field.
--
-- Layout (P = KEYS[1]):
--   P.."j:"..id        hash   the job: payload, meta, group, prio, attempts, max, state, lease,
--                             worker, leased_at, deadline, run_at, created, ended_at, reason, idem,
--                             h (attempt history, see history())
--   P.."q:"..p..":"..g list   ready job ids of group g in priority class p (0 first)
--   P.."rr:"..p        zset   round-robin ring of groups with ready work in class p
--   P.."rrseq"         string ring sequence (the score of the ring's tail)
--   P.."run"           hash   group -> jobs of that group currently leased
--   P.."ready"/"sched"/"lease"/"done"/"dead"   zsets, one per state, for O(1) counts and paging
--   P.."idem"          hash   idempotency key -> job id
--   P.."idemof"        hash   job id -> idempotency key (to forget the key with the job)
--   P.."seq"           string lease token sequence (fencing tokens)
--   P.."wake"          channel  published when work becomes ready

local P = KEYS[1]
local K_READY, K_SCHED, K_LEASE, K_DONE, K_DEAD = P .. "ready", P .. "sched", P .. "lease",
    P .. "done", P .. "dead"

local function jkey(id) return P .. "j:" .. id end
local function qkey(p, g) return P .. "q:" .. p .. ":" .. g end
local function rrkey(p) return P .. "rr:" .. p end

local NPRIO = 3

-- The time of this call in ms: ARGV[1] when it is not "0" (tests), else the server clock, so
-- lease deadlines never depend on the clocks of the workers.
local function clock(arg)
    if arg ~= "0" then return tonumber(arg) end
    local t = redis.call("TIME")
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Set when a group was (re)admitted to a ring: scripts other than fetch then publish "wake".
local admitted = false

-- Writes are buffered per script call and applied by flush() as variadic commands (one RPUSH
-- per list, one ZADD/ZREM per set, one HINCRBY per group), which is what keeps the cost per
-- job low. Nothing in a script reads a buffered key before flush() has run.
local buf_push, buf_push_order = {}, {}
local buf_zadd, buf_zrem = {}, {}
local run_delta, run_order = {}, {}
local want_ring = {}

local function push_later(key, id)
    local l = buf_push[key]
    if not l then
        l = {}
        buf_push[key] = l
        buf_push_order[#buf_push_order + 1] = key
    end
    l[#l + 1] = id
end

local function zadd_later(key, score, id)
    local l = buf_zadd[key]
    if not l then l = {}; buf_zadd[key] = l end
    l[#l + 1] = score
    l[#l + 1] = id
end

local function zrem_later(key, id)
    local l = buf_zrem[key]
    if not l then l = {}; buf_zrem[key] = l end
    l[#l + 1] = id
end

local function run_later(g, d)
    if not run_delta[g] then
        run_delta[g] = 0
        run_order[#run_order + 1] = g
    end
    run_delta[g] = run_delta[g] + d
end

-- Runs cmd(key, items...) in slices small enough for Lua's unpack.
local function variadic(cmd, key, items, step)
    for i = 1, #items, step do
        redis.call(cmd, key, unpack(items, i, math.min(i + step - 1, #items)))
    end
end

-- The job's attempt history with one entry appended, to be written as its "h" field in the
-- same HSET as the outcome (one key per job, one write per outcome). Entries are separated
-- by \30; an entry's fields by \31, in this order (error last, so it may hold anything):
-- outcome, attempt, worker, started_at, finished_at, next_run_at, error; empty = absent.
-- A plain join, not JSON: this runs for every outcome and building a table for cjson costs
-- more than the rest of the entry.
local function history(old, outcome, attempt, worker, started, finished, next_at, err)
    local e = outcome .. "\31" .. (attempt or "") .. "\31" .. (worker or "") .. "\31"
        .. (started or "") .. "\31" .. finished .. "\31" .. (next_at or "") .. "\31" .. (err or "")
    if old and old ~= "" then
        return old .. "\30" .. e
    end
    return e
end

-- Puts group g back into ring p unless it is there already.
local function ring_admit(p, g)
    if not redis.call("ZSCORE", rrkey(p), g) then
        redis.call("ZADD", rrkey(p), redis.call("INCR", P .. "rrseq"), g)
        admitted = true
    end
end

local function running_of(g)
    return tonumber(redis.call("HGET", P .. "run", g) or "0")
end

-- Applies the buffered writes, then admits to the rings the groups that got ready work or
-- ended a running job, unless they are at their running limit.
local function flush(limit)
    for _, key in ipairs(buf_push_order) do
        variadic("RPUSH", key, buf_push[key], 1000)
    end
    for key, l in pairs(buf_zadd) do
        variadic("ZADD", key, l, 1000)
    end
    for key, l in pairs(buf_zrem) do
        variadic("ZREM", key, l, 1000)
    end
    local running = {}
    for _, g in ipairs(run_order) do
        if run_delta[g] ~= 0 then
            local n = redis.call("HINCRBY", P .. "run", g, run_delta[g])
            if n <= 0 then redis.call("HDEL", P .. "run", g) end
            running[g] = n
            -- A group that ended jobs may have been dropped from its rings at its limit.
            if limit > 0 and run_delta[g] < 0 and n < limit then
                for p = 0, NPRIO - 1 do
                    if redis.call("LLEN", qkey(p, g)) > 0 then ring_admit(p, g) end
                end
            end
        end
    end
    for pg, v in pairs(want_ring) do
        local p, g = v[1], v[2]
        if limit == 0 or (running[g] or running_of(g)) < limit then
            ring_admit(p, g)
        end
    end
    buf_push, buf_push_order, buf_zadd, buf_zrem = {}, {}, {}, {}
    run_delta, run_order, want_ring = {}, {}, {}
end

-- Makes job id ready now: appends it to its group's list; its group is admitted to the ring
-- at flush unless at its running limit (it is readmitted when one of its jobs ends).
-- `fields` are extra job hash fields to write in the same HSET.
local function make_ready(id, g, p, now, fields)
    push_later(qkey(p, g), id)
    zadd_later(K_READY, now, id)
    redis.call("HSET", jkey(id), "state", "ready", "run_at", now, unpack(fields or {}))
    want_ring[p .. ":" .. g] = { p, g }
end

-- Schedules job id at time at (ms), or makes it ready when at is not in the future.
local function schedule(id, g, p, at, now, fields)
    if at <= now then
        make_ready(id, g, p, now, fields)
        return
    end
    zadd_later(K_SCHED, at, id)
    redis.call("HSET", jkey(id), "state", "scheduled", "run_at", at, unpack(fields or {}))
end

-- Reads what ending a lease needs, in one HMGET: state, lease token, group, prio, attempts,
-- max, worker, leased_at, history.
local function lease_fields(id)
    local f = redis.call("HMGET", jkey(id), "state", "lease", "group", "prio", "attempts", "max",
        "worker", "leased_at", "h")
    return f[1], f[2], f[3], tonumber(f[4]), tonumber(f[5]), tonumber(f[6]), f[7], tonumber(f[8]),
        f[9]
end

-- Ends the lease of job id (its fields already read): out of the lease set, one less running
-- job in its group. The caller writes the job's new state (with "lease" = "").
local function end_lease(id, g)
    zrem_later(K_LEASE, id)
    run_later(g, -1)
end

-- Fields that move a job to the dead letters, with its new history `h`.
local function dead_fields(id, reason, now, h)
    zadd_later(K_DEAD, now, id)
    return { "state", "dead", "reason", reason, "ended_at", now, "lease", "", "h", h }
end

-- Deletes finished jobs entirely (retention and purge): job hashes (with their history) and their
-- idempotency keys, with a constant number of commands per call (P.."idemof" maps a job id to
-- its idempotency key, for jobs that have one).
local function delete_jobs(ids)
    if #ids == 0 then return end
    for i = 1, #ids, 500 do
        local slice = { unpack(ids, i, math.min(i + 499, #ids)) }
        local keys = {}
        for _, id in ipairs(slice) do
            keys[#keys + 1] = jkey(id)
        end
        redis.call("DEL", unpack(keys))
        local idems = redis.call("HMGET", P .. "idemof", unpack(slice))
        local drop = {}
        for j, idem in ipairs(idems) do
            if idem and redis.call("HGET", P .. "idem", idem) == slice[j] then
                drop[#drop + 1] = idem
            end
        end
        redis.call("HDEL", P .. "idemof", unpack(slice))
        if #drop > 0 then redis.call("HDEL", P .. "idem", unpack(drop)) end
    end
end
