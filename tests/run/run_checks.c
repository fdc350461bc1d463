/* Every file of a run directory parses (see run_checks.h). */
#include "run_checks.h"

#include <ctype.h>
#include <dirent.h>
#include <ini.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "crc.h"

char *rc_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
    }
    if (text)
        text[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return text;
}

/* ---- JSON ------------------------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
    int depth;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && strchr(" \t\r\n", *c->p))
        c->p++;
}

static int value(cursor *c);

static int string(cursor *c)
{
    if (c->p >= c->end || *c->p != '"')
        return 0;
    for (c->p++; c->p < c->end; c->p++) {
        if (*c->p == '"') {
            c->p++;
            return 1;
        }
        if ((unsigned char)*c->p < 0x20)
            return 0;
        if (*c->p == '\\') {
            c->p++;
            if (c->p >= c->end || !strchr("\"\\/bfnrtu", *c->p))
                return 0;
        }
    }
    return 0;
}

static int number(cursor *c)
{
    const char *start = c->p;

    if (c->p < c->end && *c->p == '-')
        c->p++;
    while (c->p < c->end && (isdigit((unsigned char)*c->p) || strchr(".eE+-", *c->p)))
        c->p++;
    return c->p > start && isdigit((unsigned char)c->p[-1]);
}

static int literal(cursor *c, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(c->end - c->p) < n || strncmp(c->p, word, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static int members(cursor *c, char close, int keyed)
{
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        skip_ws(c);
        if (keyed) {
            if (!string(c))
                return 0;
            skip_ws(c);
            if (c->p >= c->end || *c->p++ != ':')
                return 0;
        }
        if (!value(c))
            return 0;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 1;
        }
        return 0;
    }
}

static int value(cursor *c)
{
    int ok;

    skip_ws(c);
    if (c->p >= c->end || ++c->depth > 64)
        return 0;
    if (*c->p == '{')
        ok = members(c, '}', 1);
    else if (*c->p == '[')
        ok = members(c, ']', 0);
    else if (*c->p == '"')
        ok = string(c);
    else if (*c->p == 't')
        ok = literal(c, "true");
    else if (*c->p == 'f')
        ok = literal(c, "false");
    else if (*c->p == 'n')
        ok = literal(c, "null");
    else
        ok = number(c);
    c->depth--;
    return ok;
}

int rc_json_valid(const char *text, size_t len)
{
    cursor c = {text, text + len, 0};

    if (!value(&c))
        return 0;
    skip_ws(&c);
    return c.p == c.end;
}

int rc_jsonl_valid(const char *text)
{
    size_t n = strlen(text);

    if (n && text[n - 1] != '\n')
        return 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        if (!rc_json_valid(line, (size_t)(nl - line)))
            return 0;
        line = nl + 1;
    }
    return 1;
}

/* ---- CSV -------------------------------------------------------------- */

static int fields(const char *line, size_t len)
{
    int n = 1, quoted = 0;

    for (size_t i = 0; i < len; i++) {
        if (line[i] == '"')
            quoted = !quoted;
        else if (line[i] == ',' && !quoted)
            n++;
    }
    return quoted ? -1 : n;
}

int rc_csv_valid(const char *text)
{
    size_t n = strlen(text);
    int want = -1;

    if (n == 0 || text[n - 1] != '\n')
        return 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        int f = fields(line, (size_t)(nl - line));
        if (f < 0 || (want >= 0 && f != want))
            return 0;
        want = f;
        line = nl + 1;
    }
    return 1;
}

/* ---- TFRecord --------------------------------------------------------- */

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int rc_tfevents_valid(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t at = 0;

    while (at < len) {
        uint64_t n;
        if (len - at < 12)
            return 0;
        n = le(p + at, 8);
        if (le(p + at + 8, 4) != host_crc32c_masked(p + at, 8) || len - at - 12 < n + 4)
            return 0;
        if (le(p + at + 12 + n, 4) != host_crc32c_masked(p + at + 12, (size_t)n))
            return 0;
        at += 12 + (size_t)n + 4;
    }
    return len > 0;
}

/* ---- a run directory -------------------------------------------------- */

static int ini_ok(void *user, const char *section, const char *name, const char *v)
{
    (void)user, (void)section, (void)name, (void)v;
    return 1;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);

    return n >= m && strcmp(s + n - m, tail) == 0;
}

/* Checks one file by its name; 1 when it parses. */
static int check_file(const char *dir, const char *name)
{
    char path[4096];
    size_t len = 0;
    char *text;
    int ok = 1;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (ends_with(name, ".mtlckpt")) {
        host_ckpt ck;
        ok = host_ckpt_read(&ck, path) == MTL_OK;
        host_ckpt_free(&ck);
        return ok;
    }
    if (ends_with(name, ".ini"))
        return ini_parse(path, ini_ok, NULL) == 0;
    text = rc_read(path, &len);
    if (!text)
        return 0;
    if (strncmp(name, "events.out.tfevents.", 20) == 0)
        ok = rc_tfevents_valid(text, len);
    else if (ends_with(name, ".csv"))
        ok = rc_csv_valid(text);
    else if (ends_with(name, ".jsonl"))
        ok = rc_jsonl_valid(text);
    else if (ends_with(name, ".json"))
        ok = rc_json_valid(text, len);
    else if (ends_with(name, ".md"))
        ok = len > 0 && text[len - 1] == '\n';
    free(text);
    return ok;
}

static int check_dir(const char *dir, char *bad, size_t cap, int *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int ok = 1;

    if (!d)
        return 1; /* not created yet */
    while (ok && (e = readdir(d))) {
        char sub[4096];
        if (e->d_name[0] == '.' || ends_with(e->d_name, ".tmp"))
            continue;
        if (strcmp(e->d_name, "tensorboard") == 0) {
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            ok = check_dir(sub, bad, cap, count);
            continue;
        }
        (*count)++;
        if (!check_file(dir, e->d_name)) {
            snprintf(bad, cap, "%s/%s", dir, e->d_name);
            ok = 0;
        }
    }
    closedir(d);
    return ok;
}

int rc_check_run_dir(const char *run_dir, char *bad, size_t cap)
{
    int count = 0;

    bad[0] = '\0';
    return check_dir(run_dir, bad, cap, &count) ? count : -1;
}
