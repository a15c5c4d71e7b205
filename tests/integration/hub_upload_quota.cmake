# `ferryd serve` upload quota flags and `ferry package abort` through the real binaries.
ferry_add_script_test(hub_upload_quota ${CMAKE_CURRENT_LIST_DIR}/hub_upload_quota.sh LABELS integration)
