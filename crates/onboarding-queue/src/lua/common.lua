-- Shared helpers, prepended to every script of onboarding-queue (see scripts.rs).
--
-- KEYS[1] is the queue prefix "oq:{name}:" itself. Every key a script touches is derived from
-- it, so all of them carry the same hash tag and live in one Redis Cluster slot. No helper
-- runs a command whose cost grows with the backlog: lists are popped at one end, sorted sets
-- are read by score with a LIMIT, hashes are read by field.
--
-- Layout (P = KEYS[1]):
--   P.."j:"..id        hash   the job: payload, meta, group, prio, attempts, max, state, lease,
--                             worker, leased_at, deadline, run_at, created, ended_at, reason, idem
--   P.."h:"..id        list   attempt history, one JSON object per outcome
--   P.."q:"..p..":"..g list   ready job ids of group g in priority class p (0 first)
--   P.."rr:"..p        zset   round-robin ring of groups with ready work in class p
--   P.."rrseq"         string ring sequence (the score of the ring's tail)
--   P.."run"           hash   group -> jobs of that group currently leased
--   P.."ready"/"sched"/"lease"/"done"/"dead"   zsets, one per state, for O(1) counts and paging
--   P.."idem"          hash   idempotency key -> job id
--   P.."seq"           string lease token sequence (fencing tokens)
--   P.."wake"          channel  published when work becomes ready

local P = KEYS[1]

local function jkey(id) return P .. "j:" .. id end
local function hkey(id) return P .. "h:" .. id end
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

-- Appends one entry to a job's attempt history.
local function history(id, entry)
    redis.call("RPUSH", hkey(id), cjson.encode(entry))
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

-- Makes job id ready now: appends it to its group's list and admits the group to the ring
-- unless the group is at its running limit (it is readmitted when one of its jobs ends).
local function make_ready(id, g, p, now, limit)
    redis.call("RPUSH", qkey(p, g), id)
    redis.call("ZADD", P .. "ready", now, id)
    redis.call("HSET", jkey(id), "state", "ready", "run_at", now)
    if limit == 0 or running_of(g) < limit then
        ring_admit(p, g)
    end
end

-- Schedules job id at time at (ms), or makes it ready when at is not in the future.
local function schedule(id, g, p, at, now, limit)
    if at <= now then
        make_ready(id, g, p, now, limit)
        return true
    end
    redis.call("ZADD", P .. "sched", at, id)
    redis.call("HSET", jkey(id), "state", "scheduled", "run_at", at)
    return false
end

-- One leased job of group g ended (any outcome): lower the group's running count and, when a
-- limit applies, readmit the group to every ring where it has ready work.
local function release_group(g, limit)
    local n = redis.call("HINCRBY", P .. "run", g, -1)
    if n <= 0 then
        redis.call("HDEL", P .. "run", g)
    end
    if limit > 0 and n < limit then
        for p = 0, NPRIO - 1 do
            if redis.call("LLEN", qkey(p, g)) > 0 then
                ring_admit(p, g)
            end
        end
    end
end

-- Moves a leased job to the dead-letter set with a reason.
local function bury(id, reason, now)
    redis.call("ZADD", P .. "dead", now, id)
    redis.call("HSET", jkey(id), "state", "dead", "reason", reason, "ended_at", now, "lease", "")
end

-- Ends the lease of job id (state running): removes it from the lease set and the group count.
-- Returns the job's group, priority, attempts, max attempts, worker and lease start.
local function end_lease(id, limit)
    local f = redis.call("HMGET", jkey(id), "group", "prio", "attempts", "max", "worker", "leased_at")
    redis.call("ZREM", P .. "lease", id)
    redis.call("HSET", jkey(id), "lease", "")
    release_group(f[1], limit)
    return f[1], tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), f[5], tonumber(f[6])
end

-- Deletes a finished job entirely (retention and purge).
local function delete_job(id)
    local idem = redis.call("HGET", jkey(id), "idem")
    if idem and idem ~= "" then
        redis.call("HDEL", P .. "idem", idem)
    end
    redis.call("DEL", jkey(id), hkey(id))
end
