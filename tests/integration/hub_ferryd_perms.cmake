# `ferryd init` / `serve`: ferry.db and its -wal/-shm are owner-only (0600).
ferry_add_script_test(hub_ferryd_perms ${CMAKE_CURRENT_LIST_DIR}/hub_ferryd_perms.sh LABELS integration)
