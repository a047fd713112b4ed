-- purge: deletes dead (or done) jobs with their history and idempotency key.
--
-- Guarantees: only jobs in the given state are deleted, so a job requeued meanwhile survives.
-- Constant cost per job.
--
-- ARGV: state ("dead"|"done"), then ids. Returns the number deleted.
local state = ARGV[1]
local ids = {}
for i = 2, #ARGV do
    local id = ARGV[i]
    if redis.call("HGET", jkey(id), "state") == state then
        redis.call("ZREM", P .. state, id)
        ids[#ids + 1] = id
    end
end
delete_jobs(ids)
return #ids
