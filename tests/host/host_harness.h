/*
 * tests/host: running mtlhost as a subprocess and reading what it wrote.
 */
#ifndef MTL_TEST_HOST_HARNESS_H
#define MTL_TEST_HOST_HARNESS_H

#include <stddef.h>

typedef struct hh_result {
    int code;  /* exit status; -1 when it did not exit normally */
    char *out; /* stdout */
    char *err; /* stderr */
} hh_result;

/* A fresh temporary folder for this test program, removed at exit. */
const char *hh_tmpdir(void);

/*
 * Runs mtlhost with the NULL-terminated args, MTL_PLUGIN_PATH set to
 * plugin_path (unset when NULL), in folder cwd (the current one when NULL).
 */
void hh_run(hh_result *r, const char *plugin_path, const char *cwd, const char *const *args);
void hh_free(hh_result *r);

/* The file's text (malloc'ed), or NULL. */
char *hh_read(const char *path);
void hh_write(const char *path, const char *text);

/* Nonzero when `path` exists. */
int hh_exists(const char *path);

/* The value of `key` in [section] of an INI file we wrote, or NULL (malloc'ed). */
char *hh_ini_value(const char *path, const char *section, const char *key);

/* The text with the CSV column or JSON field "seconds" removed (malloc'ed). */
char *hh_without_seconds(const char *text, int json);

/* The number of lines of text. */
size_t hh_count_lines(const char *text);

/* Sum of the integer column `name` of a CSV text. */
long hh_csv_sum(const char *csv, const char *name);

/* Nonzero when `line` (without its newline) is one of the lines of text. */
int hh_has_line(const char *text, const char *line);

#endif /* MTL_TEST_HOST_HARNESS_H */
