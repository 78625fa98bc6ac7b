"""The ledger's atomic steps, as Lua scripts run by Redis in one step (nothing interleaves with them).

Every state change that must not race is one of these: a transition that checks the current state (and, when
given, that the writer still holds its fenced lease), the write-ahead of a signed attempt, nonce allocation and
release, recording a whole plan's intents, and taking, renewing and releasing a lease.
"""

from __future__ import annotations

#: Fencing check shared by the writers: KEYS[n] is the lease key, ARGV[f] the writer's token ('' = unfenced).
_FENCE = """
local function fenced(lease_key, token)
  if token == nil or token == '' then return false end
  local held = redis.call('HGET', lease_key, 'token')
  return held ~= token
end
"""

#: KEYS: record, history, raw, lease. ARGV: to, allowed (JSON), now, n, k1, v1, ..., raw_field, raw_value, token.
#: Returns {'ok', previous state, spec, the record's fields and values after the move} (the caller's re-read).
TRANSITION = _FENCE + """
local n = tonumber(ARGV[4])
local r = 5 + 2 * n
if fenced(KEYS[4], ARGV[r + 2]) then return {'fenced', ''} end
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {'missing', ''} end
local allowed = cjson.decode(ARGV[2])
local ok = false
for _, s in ipairs(allowed) do if s == cur then ok = true end end
if not ok then return {'illegal', cur} end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_at', ARGV[3])
for i = 5, 4 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[r] ~= nil and ARGV[r] ~= '' then redis.call('HSET', KEYS[3], ARGV[r], ARGV[r + 1]) end
redis.call('RPUSH', KEYS[2], cjson.encode({cur, ARGV[1], ARGV[3]}))
local out = {'ok', cur, redis.call('HGET', KEYS[1], 'spec') or ''}
local record = redis.call('HGETALL', KEYS[1])
for i = 1, #record do out[#out + 1] = record[i] end
return out
"""

#: KEYS: record, raw, lease. ARGV: state, index, attempts JSON, raw, now, token.
ADD_ATTEMPT = _FENCE + """
if fenced(KEYS[3], ARGV[6]) then return {'fenced', ''} end
local cur = redis.call('HGET', KEYS[1], 'state')
if cur ~= ARGV[1] then return {'illegal', cur or ''} end
local attempts = cjson.decode(redis.call('HGET', KEYS[1], 'attempts') or '[]')
if #attempts ~= tonumber(ARGV[2]) then return {'stale', tostring(#attempts)} end
redis.call('HSET', KEYS[1], 'attempts', ARGV[3], 'updated_at', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
return {'ok', cur}
"""

#: KEYS: record, nonce sequence, lease. ARGV: chain pending nonce, intent id, token.
ALLOCATE_NONCE = _FENCE + """
if fenced(KEYS[3], ARGV[3]) then return -1 end
local have = redis.call('HGET', KEYS[1], 'nonce')
if have then return tonumber(have) end
local nxt = tonumber(redis.call('HGET', KEYS[2], 'next') or '-1')
local chain = tonumber(ARGV[1])
if chain > nxt then nxt = chain end
redis.call('HSET', KEYS[1], 'nonce', nxt)
redis.call('HSET', KEYS[2], 'next', nxt + 1, 'n:' .. nxt, ARGV[2])
return nxt
"""

#: KEYS: record, history, lease. ARGV: now, reason, token. A receipt that left the canonical chain: back to 'sent',
#: its receipt and fill dropped (never booked), the reorg counted.
REVERT_INCLUSION = _FENCE + """
if fenced(KEYS[3], ARGV[3]) then return {'fenced', ''} end
local cur = redis.call('HGET', KEYS[1], 'state')
if cur ~= 'included' then return {'illegal', cur or ''} end
redis.call('HDEL', KEYS[1], 'receipt', 'fill', 'deposit', 'perp_fills', 'gas_cost_wei', 'confirmed_depth')
redis.call('HINCRBY', KEYS[1], 'reorgs', 1)
redis.call('HSET', KEYS[1], 'state', 'sent', 'updated_at', ARGV[1], 'error', ARGV[2])
redis.call('RPUSH', KEYS[2], cjson.encode({cur, 'sent', ARGV[1]}))
return {'ok', cur}
"""

#: KEYS: record, nonce sequence, lease. ARGV: nonce, intent id, token. Gives an intent one specific nonce (a gap
#: filler) when no intent holds it; returns the nonce, -1 when fenced, -2 when another intent holds it.
ASSIGN_NONCE = _FENCE + """
if fenced(KEYS[3], ARGV[3]) then return -1 end
local have = redis.call('HGET', KEYS[1], 'nonce')
if have then return tonumber(have) end
local holder = redis.call('HGET', KEYS[2], 'n:' .. ARGV[1])
if holder and holder ~= ARGV[2] then return -2 end
redis.call('HSET', KEYS[1], 'nonce', ARGV[1])
redis.call('HSET', KEYS[2], 'n:' .. ARGV[1], ARGV[2])
local nxt = tonumber(redis.call('HGET', KEYS[2], 'next') or '-1')
if tonumber(ARGV[1]) >= nxt then redis.call('HSET', KEYS[2], 'next', tonumber(ARGV[1]) + 1) end
return tonumber(ARGV[1])
"""

#: KEYS: record, nonce sequence. ARGV: intent id.
RELEASE_NONCE = """
local have = redis.call('HGET', KEYS[1], 'nonce')
if not have then return 0 end
local nxt = tonumber(redis.call('HGET', KEYS[2], 'next') or '-1')
if nxt == tonumber(have) + 1 and redis.call('HGET', KEYS[2], 'n:' .. have) == ARGV[1] then
  redis.call('HSET', KEYS[2], 'next', tonumber(have))
  redis.call('HDEL', KEYS[2], 'n:' .. have)
  redis.call('HDEL', KEYS[1], 'nonce')
  return 1
end
return 0
"""

#: KEYS: run intents list, run lanes set. ARGV: prefix, run id, now, then per intent: id, lane, spec JSON.
#: All of a plan's intents appear at once or none do: a crash mid-way cannot orphan a swap behind its approval.
ADD_INTENTS = """
local added = 0
for i = 4, #ARGV, 3 do
  local id, lane, spec = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local key = ARGV[1] .. ':intent:' .. id
  if redis.call('HSETNX', key, 'spec', spec) == 1 then
    redis.call('HSET', key, 'state', 'planned', 'updated_at', ARGV[3])
    redis.call('RPUSH', KEYS[1], id)
    redis.call('RPUSH', ARGV[1] .. ':run:' .. ARGV[2] .. ':lane:' .. lane, id)
    redis.call('SADD', KEYS[2], lane)
    added = added + 1
  end
end
return added
"""

#: KEYS: lease, fence counter. ARGV: owner, ttl ms. Returns {token, ttl ms left} or {} when another owner holds it.
#: Re-entrant for the same owner (a redelivered message keeps its token and extends the lease). Expiry is Redis's
#: own key expiry, so no client clock is trusted.
ACQUIRE_LEASE = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return {} end
local token
if owner == ARGV[1] then
  token = redis.call('HGET', KEYS[1], 'token')
else
  token = tostring(redis.call('INCR', KEYS[2]))
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return {token, ARGV[2]}
"""

#: KEYS: lease. ARGV: owner, token, ttl ms. Returns 1, or 0 when the lease is no longer ours (expired or taken).
RENEW_LEASE = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

#: KEYS: lease. ARGV: owner. Releases only the owner's own lease.
RELEASE_LEASE = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

__all__ = [
    "ACQUIRE_LEASE",
    "ADD_ATTEMPT",
    "ADD_INTENTS",
    "ALLOCATE_NONCE",
    "ASSIGN_NONCE",
    "RELEASE_LEASE",
    "RELEASE_NONCE",
    "RENEW_LEASE",
    "REVERT_INCLUSION",
    "TRANSITION",
]
