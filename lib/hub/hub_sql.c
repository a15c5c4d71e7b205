/*
 * See hub_sql.h: the hub's legacy door to SQLite.
 */
#include "hub_sql.h"

void hub_sql_attach(ferry_hub_t *hub)
{
    hub->db = ferry_store_sqlite(hub->store);
}
