-- Shared helpers, prepended to every script of onboarding-queue (see scripts.rs).
--
-- KEYS[1] is the queue prefix "oq:{name}:" itself. Every key a script touches is derived from
-- it, so all of them carry the same hash tag and live in one Redis Cluster slot. No helper
-- runs a command whose cost grows with the backlog: lists are popped at one end, sorted sets
-- are read by score with a LIMIT, hashes are read by field.
--
-- Layout (P = KEYS[1]). Jobs are stored by column: one hash per attribute, keyed by job id,
-- so a script reads or writes a whole batch of jobs with one variadic command per column
-- instead of a few commands per job (the per-command cost inside Lua dominates otherwise).
--   P.."d"   hash  id -> payload (immutable)
--   P.."m"   hash  id -> metadata JSON (immutable; absent when empty)
--   P.."g"   hash  id -> "prio|max|created|group" (immutable)
--   P.."a"   hash  id -> attempts counted in the current budget (absent = 0)
--   P.."l"   hash  id -> "token|worker|leased_at" while leased; after an outcome
--                  "F:token:op:code" (answers a repeated report of that outcome)
--   P.."h"   hash  id -> attempt history (see history())
--   P.."r"   hash  id -> dead-letter reason (dead jobs only)
--   P.."ready"/"sched"/"lease"/"done"/"dead"  zsets, one per state (a job is in exactly one):
--            score = when it became ready / its run time / its lease deadline / when it ended
--   P.."q:"..p..":"..g list   ready job ids of group g in priority class p (0 first)
--   P.."rr:"..p        zset   round-robin ring of groups with ready work in class p
--   P.."rrseq"         string ring sequence (the score of the ring's tail)
--   P.."run"           hash   group -> jobs of that group currently leased
--   P.."idem"          hash   idempotency key -> job id
--   P.."idemof"        hash   job id -> idempotency key (to forget the key with the job)
--   P.."seq"           string lease token sequence (fencing tokens)
--   P.."wake"          channel  published when a group gets fetchable work

local P = KEYS[1]
local K_READY, K_SCHED, K_LEASE, K_DONE, K_DEAD = P .. "ready", P .. "sched", P .. "lease",
    P .. "done", P .. "dead"
local C_PAYLOAD, C_META, C_GROUP, C_ATTEMPTS, C_LEASE, C_HIST, C_REASON = P .. "d", P .. "m",
    P .. "g", P .. "a", P .. "l", P .. "h", P .. "r"

-- Ready-list key of group g in class p, cached per call (string building is not free in Lua).
local qkey_cache = { {}, {}, {} }
local function qkey(p, g)
    local c = qkey_cache[p + 1]
    local k = c[g]
    if not k then
        k = P .. "q:" .. p .. ":" .. g
        c[g] = k
    end
    return k
end
local function rrkey(p) return P .. "rr:" .. p end

local NPRIO = 3

-- The time of this call in ms: ARGV[1] when it is not "0" (tests), else the server clock, so
-- lease deadlines never depend on the clocks of the workers.
local function clock(arg)
    if arg ~= "0" then return tonumber(arg) end
    local t = redis.call("TIME")
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Runs cmd(key, items...) in slices small enough for Lua's unpack; returns the replies.
local function variadic(cmd, key, items, step)
    if #items <= step then
        return redis.call(cmd, key, unpack(items))
    end
    local out = {}
    for i = 1, #items, step do
        local r = redis.call(cmd, key, unpack(items, i, math.min(i + step - 1, #items)))
        if type(r) == "table" then
            for _, v in ipairs(r) do out[#out + 1] = v end
        end
    end
    return out
end

-- HMGET of `ids` in column `col`, as a list aligned with ids (false where absent).
local function column(col, ids)
    if #ids == 0 then return {} end
    return variadic("HMGET", col, ids, 1000)
end

-- Parses a "prio|max|created|group" column value.
local function parse_g(v)
    local p, max, created, g = string.match(v, "^(%d)|(%d+)|(%d+)|(.*)$")
    return tonumber(p), tonumber(max), created, g
end

-- Parses a "token|worker|leased_at" lease value.
local function parse_lease(v)
    return string.match(v, "^(%d+)|(.*)|(%d+)$")
end

-- Set when a group was (re)admitted to a ring: scripts other than fetch then publish "wake".
local admitted = false

-- Writes are buffered per script call and applied by flush() as variadic commands (one
-- command per list, set or column), which is what keeps the cost per job low. Nothing in a
-- script reads a buffered key before flush() has run.
local buf_push, buf_push_order = {}, {}
local buf_zadd, buf_zrem, buf_hset, buf_hdel = {}, {}, {}, {}
local run_delta, run_order = {}, {}
local want_ring = { {}, {}, {} }

local function push_later(key, id)
    local l = buf_push[key]
    if not l then
        l = {}
        buf_push[key] = l
        buf_push_order[#buf_push_order + 1] = key
    end
    l[#l + 1] = id
end

local function pair_later(buf, key, a, b)
    local l = buf[key]
    if not l then l = {}; buf[key] = l end
    l[#l + 1] = a
    l[#l + 1] = b
end

local function one_later(buf, key, a)
    local l = buf[key]
    if not l then l = {}; buf[key] = l end
    l[#l + 1] = a
end

local function zadd_later(key, score, id) pair_later(buf_zadd, key, score, id) end
local function zrem_later(key, id) one_later(buf_zrem, key, id) end
local function hset_later(col, id, v) pair_later(buf_hset, col, id, v) end
local function hdel_later(col, id) one_later(buf_hdel, col, id) end

local function run_later(g, d)
    if not run_delta[g] then
        run_delta[g] = 0
        run_order[#run_order + 1] = g
    end
    run_delta[g] = run_delta[g] + d
end

-- The job's attempt history with one entry appended. Entries are separated by \30; an
-- entry's fields by \31, in this order (error last, so it may hold anything): outcome,
-- attempt, worker, started_at, finished_at, next_run_at, error; empty = absent. A plain
-- join, not JSON: this runs for every outcome, and a Lua table for cjson costs more.
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
    for key, l in pairs(buf_hset) do variadic("HSET", key, l, 1000) end
    for key, l in pairs(buf_hdel) do variadic("HDEL", key, l, 1000) end
    for key, l in pairs(buf_zadd) do variadic("ZADD", key, l, 1000) end
    for key, l in pairs(buf_zrem) do variadic("ZREM", key, l, 1000) end
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
    for p = 0, NPRIO - 1 do
        for g in pairs(want_ring[p + 1]) do
            if limit == 0 or (running[g] or running_of(g)) < limit then
                ring_admit(p, g)
            end
        end
    end
    buf_push, buf_push_order, buf_zadd, buf_zrem, buf_hset, buf_hdel = {}, {}, {}, {}, {}, {}
    run_delta, run_order, want_ring = {}, {}, { {}, {}, {} }
end

-- Makes job id (group g, class p) ready now: its group's list, the ready set, and its group
-- admitted to the ring at flush unless at its running limit.
local function make_ready(id, g, p, now)
    push_later(qkey(p, g), id)
    zadd_later(K_READY, now, id)
    want_ring[p + 1][g] = true
end

-- Schedules job id at time at (ms), or makes it ready when at is not in the future.
local function schedule(id, g, p, at, now)
    if at <= now then
        make_ready(id, g, p, now)
    else
        zadd_later(K_SCHED, at, id)
    end
end

-- Moves a job to the dead letters with a reason.
local function bury(id, reason, now)
    zadd_later(K_DEAD, now, id)
    hset_later(C_REASON, id, reason)
end

-- Deletes finished jobs entirely (retention and purge): every column and the idempotency
-- key, a constant number of commands per call. The caller removes them from their state set.
-- (Only dead jobs have a reason.)
local function delete_jobs(ids, dead)
    if #ids == 0 then return end
    local idems = column(P .. "idemof", ids)
    local drop = {}
    for j, idem in ipairs(idems) do
        if idem and redis.call("HGET", P .. "idem", idem) == ids[j] then
            drop[#drop + 1] = idem
        end
    end
    for _, col in ipairs({ C_PAYLOAD, C_META, C_GROUP, C_ATTEMPTS, C_LEASE, C_HIST,
        P .. "idemof" }) do
        variadic("HDEL", col, ids, 1000)
    end
    if dead then variadic("HDEL", C_REASON, ids, 1000) end
    if #drop > 0 then variadic("HDEL", P .. "idem", drop, 1000) end
end
