-- wrk script: POST /api/v1/fill-control for random cylinders of the seeded range.
-- Environment: TOKEN, SITE_ID, FIRST_CODE, CYLINDERS (see fill_control.sh).
local token = os.getenv("TOKEN")
local site = os.getenv("SITE_ID")
local first = tonumber(os.getenv("FIRST_CODE"))
local count = tonumber(os.getenv("CYLINDERS"))

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(os.time() + (seed or 0))
end

request = function()
  local code = string.format("%010d", first + math.random(0, count - 1))
  local body = '{"code":"' .. code .. '","site_id":"' .. site .. '","medium":"液化石油气"}'
  return wrk.format(nil, nil, nil, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
