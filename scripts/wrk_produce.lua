-- wrk script: single-record HTTP produce, keyless, to topic "single" (spread over its partitions).
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"topic":"single","payload":"' .. string.rep("x", 100) .. '"}'
