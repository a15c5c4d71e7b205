#include "json_test_tables.h"

#include "ferry/json.h"

#define F(num, name)                                                                                         \
    {                                                                                                        \
        num, name                                                                                            \
    }
#define MSG(d, map, fields)                                                                                  \
    {                                                                                                        \
        &d, map, sizeof(fields) / sizeof(fields[0]), fields                                                  \
    }

static const ferry_json_field_info_t inner_f[] = {F(1, "count"), F(2, "label"), F(3, "child")};
static const ferry_json_field_info_t scalars_f[] = {
    F(1, "i32"),   F(2, "i64"),   F(3, "u32"),   F(4, "u64"),   F(5, "s32"),  F(6, "s64"),
    F(7, "f32"),   F(8, "f64"),   F(9, "sf32"),  F(10, "sf64"), F(11, "flt"), F(12, "dbl"),
    F(13, "flag"), F(14, "text"), F(15, "data"), F(16, "color")};
static const ferry_json_field_info_t everything_f[] = {
    F(1, "scalars"),    F(2, "packedI32"),    F(3, "packedI64"),      F(4, "packedDbl"),
    F(5, "packedBool"), F(6, "colors"),       F(7, "names"),          F(8, "blobs"),
    F(9, "items"),      F(10, "counts"),      F(11, "byId"),          F(12, "byFlag"),
    F(13, "colorMap"),  F(14, "innerMap"),    F(15, "inner"),         F(16, "choiceText"),
    F(17, "choiceNum"), F(18, "choiceInner"), F(19, "choiceWrapped"), F(20, "createdAt"),
    F(21, "timeout"),   F(22, "nothing"),     F(23, "wI64"),          F(24, "wU64"),
    F(25, "wI32"),      F(26, "wU32"),        F(27, "wBool"),         F(28, "wString"),
    F(29, "wBytes"),    F(30, "wDouble"),     F(31, "wFloat"),        F(32, "mask"),
    F(33, "any"),       F(34, "stamps"),      F(35, "customName"),    F(36, "snakeCase3d"),
    F(37, "packedFlt"), F(38, "packedU64")};
static const ferry_json_field_info_t entry_f[] = {F(1, "key"), F(2, "value")};
static const ferry_json_field_info_t recursive_f[] = {F(1, "next"), F(2, "value")};

static const ferry_json_msg_info_t messages[] = {
    MSG(jsontest__v1__inner__descriptor, 0, inner_f),
    MSG(jsontest__v1__scalars__descriptor, 0, scalars_f),
    MSG(jsontest__v1__everything__descriptor, 0, everything_f),
    MSG(jsontest__v1__everything__counts_entry__descriptor, 1, entry_f),
    MSG(jsontest__v1__everything__by_id_entry__descriptor, 1, entry_f),
    MSG(jsontest__v1__everything__by_flag_entry__descriptor, 1, entry_f),
    MSG(jsontest__v1__everything__color_map_entry__descriptor, 1, entry_f),
    MSG(jsontest__v1__everything__inner_map_entry__descriptor, 1, entry_f),
    MSG(jsontest__v1__recursive__descriptor, 0, recursive_f),
};

const ferry_json_file_info_t jsontest_json_file = {"jsontest/v1/json_test.proto",
                                                   sizeof(messages) / sizeof(messages[0]), messages};

void jsontest_register(void)
{
    ferry_json_register_file(&jsontest_json_file);
}
