// logline-cli: keys, appends, export and verification for a universal-span ledger in SQLite
// (--db FILE) or PostgreSQL (--postgres URL).
//
//   logline-cli keygen --out FILE [--force]          new Ed25519 seed (0600), public key on stdout
//   logline-cli keygen --public --key FILE           public key of an existing seed
//   logline-cli append --db FILE --key FILE --user U [--tenant T] < spans.ndjson
//   logline-cli export --db FILE                     every span as NDJSON, in commit order
//   logline-cli verify --db FILE [--trust KEY]... [--checkpoint FILE]   hashes, chain links, signatures
//   logline-cli checkpoint --db FILE [--key FILE]    verify, then print every chain's head (JSON)
//   logline-cli schema [--postgres]                  the DDL (SQLite, or PostgreSQL)
//   logline-cli token issue --db FILE --key FILE --user U [--tenant T] --scopes S   an API token
//   logline-cli token revoke --db FILE --key FILE --id UUID
//   logline-cli seed --db FILE --key FILE            LogLineOS's manifest and kernels
//   logline-cli seed --sql sqlite|postgres --key FILE   the same, as a SQL script for an empty ledger
//   logline-cli seed --db FILE --key FILE --policies --user U [--tenant T]   the seed policies
//   logline-cli force --db FILE --key FILE --function UUID   the override grant for a function's code
//
// Exit codes: 0 success, 1 verification found problems, 2 bad usage, bad input or I/O error.
#include "append.hpp"
#include "common.hpp"
#include "export.hpp"
#include "import.hpp"
#include "keygen.hpp"
#include "read.hpp"
#include "schema.hpp"
#include "seed.hpp"
#include "token.hpp"
#include "verify.hpp"

namespace {

// ---- commands ----------------------------------------------------------------------------------

constexpr const char* postgres_owner_help =
    "with --postgres: the role that owns the tables (migrations, reading every span, the "
    "operator's writes); default: the --postgres role";
constexpr const char* postgres_env_help =
    "--postgres's URL from environment variable VAR (keeps a password out of ps; or let libpq read "
    "it from ~/.pgpass, PGPASSFILE)";
constexpr const char* postgres_owner_env_help =
    "--postgres-owner's URL from environment variable VAR";
constexpr const char* table_help =
    "with --db: the logline table to read, of any span type (default: universal_registry, else the "
    "only table the file records)";

const std::vector<command>& commands() {
  static const std::vector<command> list = {
      {"keygen",
       "create an Ed25519 signing key, or print the public key of one",
       "--out FILE [--force] | --public (--key FILE | --key-env VAR)",
       "Writes a new 32-byte Ed25519 seed to FILE as 64 hex characters (file mode 0600) and "
       "prints\n"
       "its public key. An existing FILE is never overwritten unless --force is given.\n"
       "With --public, prints the public key of an existing seed instead.",
       {{"out", "FILE", false, "where to write the new seed"},
        {"force", "", false, "replace FILE if it exists"},
        {"public", "", false, "print the public key of --key/--key-env"},
        {"key", "FILE", false, "seed file (with --public)"},
        {"key-env", "VAR", false, "environment variable holding the seed (with --public)"}},
       run_keygen},
      {"append",
       "append spans read as NDJSON from stdin, in one transaction",
       "(--db FILE | --postgres URL) (--key FILE | --key-env VAR) --user USER [--tenant TENANT] < "
       "spans.ndjson",
       "Reads one JSON span per line (blank lines are skipped). A line without \"seq\" becomes the "
       "next\n"
       "version of its \"id\" (or a new entity when it has no id); a line with \"seq\" must be "
       "exactly\n"
       "the next version. The ledger sets at, prev_hash, chain_position, public_key, curr_hash "
       "and\n"
       "signature: lines naming them are refused. Every line is checked before anything is "
       "written,\n"
       "and all of them are appended in one transaction, or none. The stored spans are printed as\n"
       "NDJSON (not with --quiet). The database is created if it does not exist.",
       {{"db", "FILE", false, "SQLite database"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (libpq URL or conninfo)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"key", "FILE", false, "Ed25519 seed file (see keygen)"},
        {"key-env", "VAR", false, "environment variable holding the seed"},
        {"user", "USER", false, "identity that writes (default owner_id)"},
        {"tenant", "TENANT", false, "tenant of that identity (default tenant_id)"},
        {"quiet", "", false, "print nothing on success (not the stored spans)"},
        {"wait", "SECONDS", false,
         "how long to wait for another writer's lock (SQLite; default 5)"}},
       run_append},
      {"export",
       "print every span as NDJSON, in commit order",
       "(--db FILE | --postgres URL) [--since TIME]",
       "Prints every stored span, whoever owns it, one JSON object per line in commit order: "
       "every\n"
       "non-null column with keys sorted, i.e. the hashed fields plus curr_hash and signature.",
       {{"db", "FILE", false, "SQLite database (must exist)"},
        {"postgres", "URL", false,
         "PostgreSQL database instead of --db (the table owner's role: export reads every span)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"since", "TIME", false, "only spans with at >= TIME (YYYY-MM-DDTHH:MM:SS.mmmZ)"},
        {"table", "NAME", false, table_help}},
       run_export},
      {"verify",
       "check every hash, chain link and signature",
       "(--db FILE | --postgres URL) [--trust KEY]... [--threads N] [--quiet]",
       "Recomputes every span's hash, checks its signature and its link to the previous span of "
       "its\n"
       "chain, and looks for gaps and forks. Each problem is printed on stdout as\n"
       "  <id> <seq> <reason>: <detail>\n"
       "Exit status 0 if everything checks out, 1 if there is any problem. A SQLite ledger of any\n"
       "span type is read from the DDL its file records (--table); a copy without its -wal file "
       "is\n"
       "read as an immutable file, so nothing is created beside it and read-only media work.",
       {{"db", "FILE", false, "SQLite database (must exist; opened read-only)"},
        {"postgres", "URL", false,
         "PostgreSQL database instead of --db (the table owner's role: verify reads every span)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"trust", "KEY", true,
         "accept only signatures by this public key (hex) or seed file; repeatable"},
        {"checkpoint", "FILE", false,
         "also require every chain to still hold the head recorded in FILE (see checkpoint)"},
        {"threads", "N", false, "threads for hashing and signature checks (default: all cores)"},
        {"quiet", "", false, "no progress and no summary when everything checks out"},
        {"table", "NAME", false, table_help}},
       run_verify},
      {"checkpoint",
       "verify, then print the head of every chain (a checkpoint to keep elsewhere)",
       "(--db FILE | --postgres URL) [--key FILE | --key-env VAR] [--threads N] [--quiet]",
       "Verifies the whole ledger; if it checks out, prints one JSON line on stdout: the time and, "
       "for\n"
       "every chain, its last span (position, id, seq, curr_hash), signed with --key if given. "
       "Keep it\n"
       "outside the ledger; 'verify --checkpoint FILE' later reports a chain whose last spans "
       "were\n"
       "removed (truncated) or replaced (head mismatch) since. If the ledger does not verify, the\n"
       "problems go to stderr, nothing to stdout, and the exit status is 1.",
       {{"db", "FILE", false, "SQLite database (must exist; opened read-only)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (the table owner's role)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"key", "FILE", false, "sign the checkpoint with this Ed25519 seed file"},
        {"key-env", "VAR", false, "environment variable holding the seed"},
        {"threads", "N", false, "threads for hashing and signature checks (default: all cores)"},
        {"quiet", "", false, "no progress and no summary"},
        {"table", "NAME", false, table_help}},
       run_checkpoint},
      {"get",
       "print a span (its latest version, one version, or its history) as NDJSON",
       "(--db FILE | --postgres URL) --id UUID [--seq N | --history]",
       "Reads as the operator: every span, whoever owns it.",
       {{"db", "FILE", false, "SQLite database (must exist)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (the table owner's role)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"id", "UUID", false, "the span's id"},
        {"seq", "N", false, "that version"},
        {"history", "", false, "every version, oldest first"}},
       run_get},
      {"tail",
       "print the change feed as NDJSON; with -f, keep following it",
       "(--db FILE | --postgres URL) [--after CURSOR] [-f | --follow] [--entity-type T] "
       "[--cursors]",
       "Prints every span after the feed cursor CURSOR (from the beginning without --after), in "
       "feed\n"
       "order, reading as the operator. With --follow, waits for new spans (LISTEN/NOTIFY on "
       "PostgreSQL,\n"
       "a 200 ms poll on SQLite) until interrupted. --cursors prefixes each line with its cursor "
       "and a tab.",
       {{"db", "FILE", false, "SQLite database (must exist)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (the table owner's role)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"after", "CURSOR", false, "start after this feed cursor"},
        {"follow", "", false, "keep following (-f)"},
        {"entity-type", "T", false, "only spans of this entity_type"},
        {"cursors", "", false, "print each span's cursor, then a tab, before it"}},
       run_tail},
      {"import",
       "append sealed spans (an export) read as NDJSON from stdin, all or nothing",
       "(--db FILE | --postgres URL) < spans.ndjson",
       "Reads spans in the export form (hashed, signed, chained). Before anything is written, "
       "every\n"
       "span must hash to its curr_hash and carry a valid signature; in one transaction, each must "
       "be\n"
       "its id's next version and continue its chain exactly. Any failure: nothing is imported, "
       "exit 2.",
       {{"db", "FILE", false, "SQLite database (created if missing)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (the table owner's role)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"quiet", "", false, "no progress and no summary"},
        {"wait", "SECONDS", false,
         "how long to wait for another writer's lock (SQLite; default 5)"}},
       run_import},
      {"token issue",
       "issue an API token for logline-server (printed once; only its hash is stored)",
       "(--db FILE | --postgres URL) (--key FILE | --key-env VAR) --user USER [--tenant TENANT] "
       "--scopes LIST [--label TEXT]",
       "Appends an api_token span (as the token administrator) holding the BLAKE3 hash of a new "
       "random\n"
       "token, the identity it stands for and its scopes, and prints the token. Scopes "
       "(comma-separated):\n"
       "spans:read, spans:write, execute, admin.",
       {{"db", "FILE", false, "SQLite database"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"key", "FILE", false, "Ed25519 seed file of the server's ledger"},
        {"key-env", "VAR", false, "environment variable holding the seed"},
        {"user", "USER", false, "the identity the token stands for"},
        {"tenant", "TENANT", false, "its tenant"},
        {"scopes", "LIST", false, "comma-separated scopes"},
        {"label", "TEXT", false, "a name for the token"}},
       run_token_issue},
      {"token revoke",
       "revoke an API token (a new version with status revoked)",
       "(--db FILE | --postgres URL) (--key FILE | --key-env VAR) --id UUID",
       "Appends a new version of the api_token span with status \"revoked\"; servers stop "
       "accepting the\n"
       "token within seconds.",
       {{"db", "FILE", false, "SQLite database"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"key", "FILE", false, "Ed25519 seed file of the server's ledger"},
        {"key-env", "VAR", false, "environment variable holding the seed"},
        {"id", "UUID", false, "the token's span id (printed by token issue)"}},
       run_token_revoke},
      {"seed",
       "append LogLineOS's manifest and kernel function spans (once), or print them as SQL; or the "
       "seed policies",
       "(--db FILE | --postgres URL | --sql sqlite|postgres) (--key FILE | --key-env VAR) | (--db "
       "FILE | --postgres URL) "
       "(--key FILE | --key-env VAR) --policies --user USER [--tenant TENANT]",
       "Appends the kernel function spans run_code, observer_bot, request_worker, policy_agent "
       "and\n"
       "provider_exec and the manifest, with LogLineOS's ids, public, signed by the key (which "
       "also\n"
       "becomes the manifest's override key). Spans that exist already are not appended again.\n"
       "With --sql, writes nothing: prints a SQL script that inserts those spans, sealed, into an "
       "EMPTY\n"
       "ledger created with sql/<dialect>/0001_universal_registry.sql (chain positions 0-5 of the "
       "chain\n"
       "without a tenant). On a ledger where that chain has spans, the script fails and inserts "
       "nothing.\n"
       "With --policies, appends the seed policies ttl_reaper and slow_execution instead, owned by "
       "USER\n"
       "in TENANT (once per owner and tenant), and prints their ids; the policy agent runs them.",
       {{"db", "FILE", false, "SQLite database (created if missing)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"sql", "DIALECT", false,
         "print the seed spans as a SQL script for sqlite or postgres instead"},
        {"policies", "", false, "append the seed policies (ttl_reaper, slow_execution) instead"},
        {"user", "USER", false, "owner of the seed policies (with --policies)"},
        {"tenant", "TENANT", false, "their tenant (with --policies)"},
        {"key", "FILE", false, "Ed25519 seed file"},
        {"key-env", "VAR", false, "environment variable holding the seed"}},
       run_seed},
      {"force",
       "print the override grant that lets a function run past the daily quota",
       "(--db FILE | --postgres URL) (--key FILE | --key-env VAR) --function UUID",
       "Reads the function's latest version (as the operator) and prints "
       "{\"force\":{\"signature\":...}}:\n"
       "the override key's signature over the function's id and code. Put it in the function's\n"
       "metadata (a new version); run_code accepts it while the code is unchanged and the key is "
       "the\n"
       "manifest's override_pubkey_hex.",
       {{"db", "FILE", false, "SQLite database (must exist)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (the table owner's role)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"key", "FILE", false, "the manifest's override key (Ed25519 seed file)"},
        {"key-env", "VAR", false, "environment variable holding it"},
        {"function", "UUID", false, "the function span's id"}},
       run_force},
      {"schema",
       "print the DDL of the ledger (SQLite, or PostgreSQL)",
       "[--postgres]",
       "Prints the DDL that the ledger creates (checked in as "
       "sql/sqlite/0001_universal_registry.sql,\n"
       "and with --postgres as sql/postgres/0001_universal_registry.sql).",
       {{"postgres", "", false, "print the PostgreSQL DDL"}},
       run_schema},
  };
  return list;
}

// The commands whose names start with `prefix` ("" for all, "token " for token issue|revoke),
// one per line, the summaries aligned after the longest name.
std::string command_list(std::string_view prefix) {
  std::size_t width = 0;
  for (const auto& c : commands())
    if (c.name.substr(0, prefix.size()) == prefix) width = std::max(width, c.name.size());
  std::string s;
  for (const auto& c : commands()) {
    if (c.name.substr(0, prefix.size()) != prefix) continue;
    std::string left = "  " + std::string(c.name);
    left.resize(2 + width + 2, ' ');
    s += left + std::string(c.summary) + "\n";
  }
  return s;
}

std::string main_usage() {
  std::string s =
      "usage: logline-cli <command> [options]\n\n"
      "Keys, appends, export and verification for a logline ledger of universal spans in SQLite\n"
      "(append-only, hash-chained per tenant, Ed25519-signed, tenant-isolated).\n\ncommands:\n";
  s += command_list("");
  s += "\n'logline-cli <command> --help' describes a command; 'logline-cli --version' prints the "
       "version.\n"
       "Exit status: 0 success, 1 verification failed, 2 bad usage, bad input or I/O error.\n";
  return s;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    err(main_usage());
    return exit_error;
  }
  std::string name = argv[1];
  int first = 2;
  if (name == "token" && argc > 2 && argv[2][0] != '-') {  // two-word commands: token issue|revoke
    name += ' ';
    name += argv[2];
    first = 3;
  }
  if (name == "--version") {
    out("logline-cli " + std::string(logline::version) + "\n");
    return finish_stdout(exit_ok);
  }
  if (name == "token") {  // without a subcommand, or with --help: the token commands
    const bool asked =
        argc > 2 && (std::string_view(argv[2]) == "--help" || std::string_view(argv[2]) == "-h");
    const std::string text = "usage: logline-cli token issue|revoke [options]\n\ncommands:\n" +
                             command_list("token ") +
                             "\n'logline-cli token <command> --help' describes a command.\n";
    if (asked) {
      out(text);
      return finish_stdout(exit_ok);
    }
    err("logline-cli token: which one?\n\n" + text);
    return exit_error;
  }
  if (name == "--help" || name == "-h" || name == "help") {
    if (name == "help" && argc > 2) {
      for (const auto& c : commands())
        if (c.name == argv[2]) {
          out(command_help(c));
          return finish_stdout(exit_ok);
        }
    }
    out(main_usage());
    return finish_stdout(exit_ok);
  }
  const auto& list = commands();
  auto c =
      std::find_if(list.begin(), list.end(), [&](const command& cmd) { return cmd.name == name; });
  if (c == list.end()) {
    err("logline-cli: unknown command '" + one_line(name) + "'\n\n" + main_usage());
    return exit_error;
  }
  try {
    return c->run(parse_arguments(*c, argc, argv, first));
  } catch (const cli_error& e) {
    err("logline-cli " + std::string(c->name) + ": " + e.what() + "\n");
    if (e.show_usage) err("\n" + command_help(*c));
    return exit_error;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const logline::bad_result_access& e) {
    err("logline-cli: " + one_line(e.what()) + "\n");
  } catch (const std::exception& e) {
    err("logline-cli: unexpected error: " + one_line(e.what()) + "\n");
  } catch (...) {
    err("logline-cli: unexpected error\n");
  }
  return exit_error;
}
