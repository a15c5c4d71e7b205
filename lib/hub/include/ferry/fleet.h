/**
 * @file fleet.h
 * Settings of the hub's fleet management (licences, node status; issue 12), set by
 * `ferryd serve` flags. Zero members mean the defaults below.
 */
#ifndef FERRY_FLEET_H
#define FERRY_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/hub.h"

#define FERRY_FLEET_GRACE_DAYS_DEFAULT 7u    /**< a licence keeps working this long past its end */
#define FERRY_FLEET_WARN_DAYS_DEFAULT  30u   /**< a licence shows as expiring this long before its end */
#define FERRY_FLEET_SWEEP_MS_DEFAULT   5000u /**< status sweep period (capped at offline_after / 4) */

typedef struct ferry_fleet_config {
    uint32_t license_grace_s; /**< default grace of new licences, seconds (0 = 7 days) */
    uint32_t license_warn_s;  /**< reminder window, seconds (0 = 30 days) */
    uint32_t sweep_ms;        /**< node status sweep period (0 = default) */
    uint32_t backup_every_s;  /**< scheduled server backups into <data>/backups every this long (0 = none) */
    uint32_t backup_keep;     /**< backups kept in <data>/backups, oldest deleted first (0 = 7) */
    bool backup_no_blobs;     /**< scheduled backups without the blob store */
} ferry_fleet_config_t;

#define FERRY_FLEET_BACKUP_KEEP_DEFAULT 7u

/**
 * Sets the fleet settings of |hub|; may be called before ferry_hub_attach() or while
 * serving (tests shorten the sweep). Thread-safe.
 */
void ferry_hub_set_fleet_config(ferry_hub_t *hub, const ferry_fleet_config_t *cfg);

/** Runs one status sweep now (tests; the sweep thread runs it every sweep_ms). */
ferry_err_code_t ferry_hub_fleet_sweep(ferry_hub_t *hub, ferry_err_t *err);

#endif
