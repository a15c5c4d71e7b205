#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/blob.h"
#include "ferry/fs.h"

static char dir[64];
static ferry_blob_store_t *bs;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ferry-blob-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    bs = ferry_blob_store_open(dir, NULL);
    ck_assert_ptr_nonnull(bs);
}

static void teardown(void)
{
    ferry_blob_store_free(bs);
    ferry_fs_rm_rf(dir, NULL);
}

static const char ABC_SHA[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

START_TEST(chunked_upload_resumes_at_the_right_offset)
{
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "up1", &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "up1", &e), FERRY_E_EXISTS);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "up1", 0, "a", 1, 100, &e), FERRY_OK);
    /* a replayed or skipped chunk is refused and says where to resume */
    ck_assert_int_eq(ferry_blob_upload_write(bs, "up1", 0, "a", 1, 100, &e), FERRY_E_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(e.msg, "1 bytes received"));
    ck_assert_int_eq(ferry_blob_upload_write(bs, "up1", 2, "c", 1, 100, &e), FERRY_E_PRECONDITION);
    uint64_t off = 0;
    ck_assert_int_eq(ferry_blob_upload_offset(bs, "up1", &off, &e), FERRY_OK);
    ck_assert_uint_eq(off, 1);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "up1", 1, "bc", 2, 100, &e), FERRY_OK);
    char sha[65];
    uint64_t size = 0;
    ck_assert_int_eq(ferry_blob_upload_commit(bs, "up1", ABC_SHA, 3, sha, &size, &e), FERRY_OK);
    ck_assert_str_eq(sha, ABC_SHA);
    ck_assert_uint_eq(size, 3);
    char p[512];
    ck_assert_int_eq(ferry_blob_path(bs, sha, p, sizeof(p), &e), FERRY_OK);
    char *content = NULL;
    ck_assert_int_eq(ferry_fs_read_file(p, 10, &content, NULL, &e), FERRY_OK);
    ck_assert_str_eq(content, "abc");
    free(content);
    ck_assert_int_eq(ferry_blob_upload_offset(bs, "up1", &off, &e), FERRY_E_NOT_FOUND);
}
END_TEST

/* Overwrites byte 0 of upload |id|'s .part behind the store's back (same size). */
static void poke_part(const char *id, char c)
{
    char p[512];
    ck_assert_int_eq(ferry_blob_upload_path(bs, id, p, sizeof(p), NULL), FERRY_OK);
    int fd = open(p, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, &c, 1, 0), 1);
    close(fd);
}

START_TEST(commit_uses_the_hash_taken_while_receiving_and_reads_the_file_otherwise)
{
    ferry_err_t e = {0};
    char sha[65];
    uint64_t size = 0;
    /* Every chunk written through this handle: the commit does not read the file again,
     * so a byte changed behind its back after the writes goes unseen (the digest is of
     * what was received: "abc"). */
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "run1", &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "run1", 0, "a", 1, 100, &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "run1", 1, "bc", 2, 100, &e), FERRY_OK);
    poke_part("run1", 'x');
    ck_assert_int_eq(ferry_blob_upload_commit(bs, "run1", NULL, 3, sha, &size, &e), FERRY_OK);
    ck_assert_str_eq(sha, ABC_SHA);
    ck_assert_uint_eq(size, 3);

    /* A resumed upload (chunks before it written by another process, here another
     * handle) has no running hash: the commit reads the file, "xbc" this time. */
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "run2", &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "run2", 0, "a", 1, 100, &e), FERRY_OK);
    ferry_blob_store_t *other = ferry_blob_store_open(dir, &e);
    ck_assert_ptr_nonnull(other);
    ck_assert_int_eq(ferry_blob_upload_write(other, "run2", 1, "bc", 2, 100, &e), FERRY_OK);
    ferry_blob_store_free(other);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "run2", 3, "d", 1, 100, &e), FERRY_OK);
    poke_part("run2", 'x');
    ck_assert_int_eq(ferry_blob_upload_commit(bs, "run2", NULL, 4, sha, &size, &e), FERRY_OK);
    char want[65];
    ferry_sha256_hex("xbcd", 4, want);
    ck_assert_str_eq(sha, want);

    /* A refused chunk leaves the running hash as it was: the next chunk continues it. */
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "run3", &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "run3", 0, "a", 1, 100, &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "run3", 5, "zz", 2, 100, &e), FERRY_E_PRECONDITION);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "run3", 1, "bc", 2, 100, &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_commit(bs, "run3", ABC_SHA, 3, sha, &size, &e), FERRY_OK);
    ck_assert_str_eq(sha, ABC_SHA);
}
END_TEST

START_TEST(commit_refuses_truncated_or_mismatched_uploads_and_keeps_them)
{
    ferry_err_t e = {0};
    char sha[65];
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "up2", &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "up2", 0, "ab", 2, 100, &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_commit(bs, "up2", NULL, 3, sha, NULL, &e), FERRY_E_HASH_MISMATCH);
    ck_assert_ptr_nonnull(strstr(e.msg, "truncated"));
    ck_assert_int_eq(ferry_blob_upload_commit(bs, "up2", ABC_SHA, UINT64_MAX, sha, NULL, &e),
                     FERRY_E_HASH_MISMATCH);
    char p[512];
    ck_assert_int_eq(ferry_blob_path(bs, ABC_SHA, p, sizeof(p), &e), FERRY_E_NOT_FOUND); /* nothing stored */
    uint64_t off = 0;
    ck_assert_int_eq(ferry_blob_upload_offset(bs, "up2", &off, &e), FERRY_OK);
    ck_assert_uint_eq(off, 2); /* kept so the client can finish it */
    ck_assert_int_eq(ferry_blob_upload_abort(bs, "up2", &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_offset(bs, "up2", &off, &e), FERRY_E_NOT_FOUND);
}
END_TEST

START_TEST(size_cap_and_hostile_ids)
{
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "up3", &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "up3", 0, "abcd", 4, 3, &e), FERRY_E_TOO_LARGE);
    uint64_t off = 9;
    ck_assert_int_eq(ferry_blob_upload_offset(bs, "up3", &off, &e), FERRY_OK);
    ck_assert_uint_eq(off, 0);
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "../x", &e), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "", &e), FERRY_E_INVALID_ARG);
    char p[512];
    ck_assert_int_eq(ferry_blob_path(bs, "../../etc/passwd", p, sizeof(p), &e), FERRY_E_INVALID_ARG);
}
END_TEST

START_TEST(put_file_is_content_addressed_and_deduplicated)
{
    char src[128];
    snprintf(src, sizeof(src), "%s/src.txt", dir);
    ferry_fs_write_atomic(src, "abc", 3, 0600, NULL);
    char sha[65], sha2[65];
    uint64_t size = 0;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_blob_put_file(bs, src, sha, &size, &e), FERRY_OK);
    ck_assert_str_eq(sha, ABC_SHA);
    ck_assert_int_eq(ferry_blob_put_file(bs, src, sha2, &size, &e), FERRY_OK);
    ck_assert_str_eq(sha2, ABC_SHA);
    ck_assert_uint_eq(size, 3);
    snprintf(src, sizeof(src), "%s/missing", dir);
    ck_assert_int_eq(ferry_blob_put_file(bs, src, sha, &size, &e), FERRY_E_NOT_FOUND);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_blob");
    TCase *tc = tcase_create("all");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, chunked_upload_resumes_at_the_right_offset);
    tcase_add_test(tc, commit_refuses_truncated_or_mismatched_uploads_and_keeps_them);
    tcase_add_test(tc, size_cap_and_hostile_ids);
    tcase_add_test(tc, commit_uses_the_hash_taken_while_receiving_and_reads_the_file_otherwise);
    tcase_add_test(tc, put_file_is_content_addressed_and_deduplicated);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
