/*
 * tests/run: checks that every file of a run directory parses, whatever
 * moment the run was killed at.
 */
#ifndef MTL_TEST_RUN_CHECKS_H
#define MTL_TEST_RUN_CHECKS_H

#include <stddef.h>

/* Nonzero when text is one JSON value (objects, arrays, strings, numbers, literals). */
int rc_json_valid(const char *text, size_t len);

/* Nonzero when every line of text is one JSON value. */
int rc_jsonl_valid(const char *text);

/* Nonzero when text is whole CSV: lines end with \n and have the header's number of fields. */
int rc_csv_valid(const char *text);

/* Nonzero when the file is whole TFRecord framing with valid masked CRC-32Cs. */
int rc_tfevents_valid(const char *text, size_t len);

/*
 * Checks every file of run_dir (and run_dir/tensorboard) by its kind; a
 * name.tmp is skipped.  Returns the number of files checked, or -1 with
 * the failing file's name in bad.
 */
int rc_check_run_dir(const char *run_dir, char *bad, size_t cap);

/* The bytes of a file (malloc'ed) and their number, or NULL. */
char *rc_read(const char *path, size_t *len);

#endif /* MTL_TEST_RUN_CHECKS_H */
