/**
 * @file releases.h
 * Repository of releases: a package version published to a scope (a customer's
 * environment, optionally narrowed to stores and nodes) with a policy, and resolved at
 * once into one update task per node (ferry/store/tasks.h). The reads a release needs
 * of the customer tree (the customer, its stores, the candidate nodes) live here too,
 * so the release aggregate needs nothing else.
 *
 * Every function runs on the read-write connection with the store lock held.
 */
#ifndef FERRY_STORE_RELEASES_H
#define FERRY_STORE_RELEASES_H

#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

/** Id and disabled flag of customer |code|. FERRY_E_NOT_FOUND "no customer '<code>'". */
ferry_err_code_t ferry_store_release_customer(ferry_store_t *s, const char *code, int64_t *id, bool *disabled,
                                              ferry_err_t *err);

#endif
