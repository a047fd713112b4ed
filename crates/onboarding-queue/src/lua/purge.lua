-- purge: deletes dead (or done) jobs with their history and idempotency key.
--
-- Guarantees: only jobs in the given state are deleted, so a job requeued meanwhile survives.
-- A constant number of commands per call.
--
-- ARGV: state ("dead"|"done"), then ids. Returns the number deleted.
local set = P .. ARGV[1]
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return 0 end
local scores = variadic("ZMSCORE", set, ids, 1000)
local gone, seen = {}, {}
for j, id in ipairs(ids) do
    if scores[j] and not seen[id] then
        seen[id] = true
        gone[#gone + 1] = id
    end
end
if #gone > 0 then
    variadic("ZREM", set, gone, 1000)
    delete_jobs(gone, ARGV[1] == "dead")
end
return #gone
