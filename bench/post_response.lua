-- wrk script: every request is a new resident's response with its own submission_id.
-- Units, answers, comments and profiles vary so the server does its real work.
local units = {"dept-civil", "dept-hrss", "dept-health", "win-social", "street-a"}
local areas = {"comm-a1", "comm-a2", "street-a"}
local bands = {"18-29", "30-39", "40-49", "50-59", "60-69"}
local sexes = {"female", "male"}
local comments = {
  "窗口工作人员态度很好，耐心解答",
  "办事效率太低，跑了三趟还没办好",
  "",
  "材料要求说得很清楚，一次就办完了",
  "",
}
local counter = 0
local prefix = ""

function setup(thread)
  thread:set("tid", tostring(math.random(1, 2^30)))
end

function init(args)
  math.randomseed(os.time() + tonumber(tid or "0"))
  prefix = string.format("%08x", math.random(0, 2^31 - 1))
end

local function pick(t) return t[math.random(1, #t)] end

request = function()
  counter = counter + 1
  local sid = string.format("%s-%04x-4%03x-a%03x-%012x", prefix, math.random(0, 65535),
    math.random(0, 4095), math.random(0, 4095), counter)
  local comment = pick(comments)
  local body = string.format(
    '{"unit_code":"%s","answers":{"attitude":%d,"efficiency":%d,"transparency":%d,' ..
    '"integrity":%d,"results":%d,"recommend":%d},"comment":%s,"submission_id":"%s",' ..
    '"area_code":"%s","profile":{"age_band":"%s","sex":"%s"}}',
    pick(units), math.random(1, 5), math.random(1, 5), math.random(1, 5), math.random(1, 5),
    math.random(1, 5), math.random(0, 10), comment == "" and "null" or ('"' .. comment .. '"'),
    sid, pick(areas), pick(bands), pick(sexes))
  return wrk.format("POST", wrk.path, {["Content-Type"] = "application/json"}, body)
end
