#pragma once
// logline: typed, append-only, hash-chained, signed ledgers. The umbrella header of the core
// (no backend, no HTTP): add <logline/sqlite.hpp> for the SQLite backend.
#include "logline/assert.hpp"
#include "logline/backend.hpp"
#include "logline/blake3.hpp"
#include "logline/checkpoint.hpp"
#include "logline/ed25519.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/ledger.hpp"
#include "logline/policy/append_only.hpp"
#include "logline/policy/hash_chained.hpp"
#include "logline/policy/signed.hpp"
#include "logline/policy/tenant_isolated.hpp"
#include "logline/schema.hpp"
#include "logline/span.hpp"
#include "logline/types.hpp"
#include "logline/verify.hpp"
