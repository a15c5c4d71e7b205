/**
 * @file connstr.h
 * Masking the password of an ADO.NET / ODBC-style SQL Server connection string
 * ("Server=127.0.0.1;User Id=sa;Password={a;b};") before it is logged, stored by the
 * server or shown: the one implementation behind the agent engine's
 * ferry_node_config_mask_connstr() and ferryd's node-config preview (hub_connstr_mask()).
 *
 * Syntax read: pairs `key=value` separated by ';'. A value may be quoted with {...}
 * ('}}' is a literal '}'), "..." or '...' (a doubled quote is a literal quote); a ';'
 * inside quotes belongs to the value; only blanks may follow the closing quote. Keys
 * compare case-insensitively with runs of blanks as one space. Blank segments
 * ("a=b;;c=d", a trailing ';') are kept as written.
 *
 * What is shown: the string exactly as written, except that the value of every
 * Password / Pwd pair becomes "***" (an empty value stays empty). What is withheld
 * whole (the result is only the withheld text): a string that does not parse (a
 * segment without '=', an unclosed quote, text after a closing quote), a key that is
 * not a known SQL Server connection keyword (it may be the tail of a password holding
 * an unquoted ';', e.g. "Password=ab;cd=ef", or a misspelt "Passwort"), or more than
 * FERRY_CONNSTR_MAX bytes. No part of a withheld string is ever returned.
 */
#ifndef FERRY_CONNSTR_H
#define FERRY_CONNSTR_H

#include <stdbool.h>
#include <stddef.h>

/** Longest connection string read; a longer one is withheld. */
#define FERRY_CONNSTR_MAX 4096

/** What replaces a password value, and (by default) a withheld string. */
#define FERRY_CONNSTR_MASK "***"

/** What replaces a withheld string with FERRY_CONNSTR_SAY_WITHHELD. */
#define FERRY_CONNSTR_WITHHELD "(withheld: does not parse)"

/** Flags of ferry_connstr_mask(). */
typedef enum ferry_connstr_flags {
    FERRY_CONNSTR_DEFAULT = 0,           /**< a withheld string becomes FERRY_CONNSTR_MASK */
    FERRY_CONNSTR_SAY_WITHHELD = 1u << 0 /**< a withheld string becomes FERRY_CONNSTR_WITHHELD */
} ferry_connstr_flags_t;

/**
 * |in| with the password masked, or the withheld text (see the file comment; |flags|
 * picks which) when |in| is NULL, does not parse, names an unknown key or is longer
 * than FERRY_CONNSTR_MAX. "" stays "". New string (free()); NULL only when out of
 * memory. Never writes |in|; the caller scrubs its own copy.
 */
char *ferry_connstr_mask(const char *in, unsigned flags);

/** Whether key [|key|, |key| + |len|) names the password (Password / Pwd, any case, blanks around ignored).
 */
bool ferry_connstr_is_password_key(const char *key, size_t len);

/**
 * Whether key [|key|, |key| + |len|) is a known SQL Server connection keyword
 * (ADO.NET and ODBC spellings: Server, Data Source, User Id, Uid, Password, Pwd,
 * Encrypt, TrustServerCertificate, Driver...; any case, blanks around ignored, inner
 * runs of blanks as one space).
 */
bool ferry_connstr_known_key(const char *key, size_t len);

#endif
