/* Running mtlhost as a subprocess (see host_harness.h). */
#include "host_harness.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MTLHOST
#error "MTLHOST must name the mtlhost binary"
#endif

static char tmp_root[] = "/tmp/mtl_test_host_XXXXXX";
static int tmp_made;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmp(void)
{
    nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *hh_tmpdir(void)
{
    if (!tmp_made) {
        if (!mkdtemp(tmp_root)) {
            perror("mkdtemp");
            abort();
        }
        tmp_made = 1;
        atexit(remove_tmp);
    }
    return tmp_root;
}

char *hh_read(const char *path)
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
    return text;
}

void hh_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    if (!f || fputs(text, f) < 0) {
        perror(path);
        abort();
    }
    fclose(f);
}

int hh_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void child(const char *plugin_path, const char *cwd, const char *const *args,
                  const char *out, const char *err)
{
    char *argv[64];
    int n = 0;
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
        _exit(126);
    if (plugin_path)
        setenv("MTL_PLUGIN_PATH", plugin_path, 1);
    else
        unsetenv("MTL_PLUGIN_PATH");
    if (cwd && chdir(cwd) != 0)
        _exit(126);
    argv[n++] = (char *)MTLHOST;
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    execv(MTLHOST, argv);
    _exit(127);
}

void hh_run(hh_result *r, const char *plugin_path, const char *cwd, const char *const *args)
{
    char out[512], err[512];
    int status = 0;
    pid_t pid;

    snprintf(out, sizeof out, "%s/last.out", hh_tmpdir());
    snprintf(err, sizeof err, "%s/last.err", hh_tmpdir());
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        child(plugin_path, cwd, args, out, err);
    waitpid(pid, &status, 0);
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->out = hh_read(out);
    r->err = hh_read(err);
}

void hh_free(hh_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static char *trim(char *s)
{
    char *end = s + strlen(s);

    while (*s == ' ' || *s == '\t')
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\t'))
        *--end = '\0';
    return s;
}

char *hh_ini_value(const char *path, const char *section, const char *key)
{
    char *text = hh_read(path), *line, *save = NULL, *found = NULL;
    char current[128] = "";

    if (!text)
        return NULL;
    for (line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
        char *t = trim(line), *eq;
        if (*t == '[') {
            snprintf(current, sizeof current, "%.*s", (int)strcspn(t + 1, "]"), t + 1);
            continue;
        }
        eq = strchr(t, '=');
        if (*t == '#' || *t == ';' || !eq || strcmp(current, section) != 0)
            continue;
        *eq = '\0';
        if (strcmp(trim(t), key) == 0)
            found = strdup(trim(eq + 1));
    }
    free(text);
    return found;
}

/* Index of CSV column `name` in the header line, or -1. */
static int csv_column(const char *csv, const char *name)
{
    size_t n = strlen(name);
    int col = 0;

    for (const char *p = csv; *p && *p != '\n'; col++) {
        size_t len = strcspn(p, ",\n");
        if (len == n && strncmp(p, name, n) == 0)
            return col;
        p += len;
        if (*p == ',')
            p++;
    }
    return -1;
}

/* Appends line without its field number `col`. */
static void drop_field(char *dst, const char *line, size_t len, int col)
{
    int c = 0;
    size_t i = 0, out = strlen(dst);

    while (i < len) {
        size_t f = strcspn(line + i, ",");
        if (f > len - i)
            f = len - i;
        if (c != col) {
            if (out && dst[out - 1] != '\n')
                dst[out++] = ',';
            memcpy(dst + out, line + i, f);
            out += f;
        }
        i += f + 1;
        c++;
    }
    dst[out++] = '\n';
    dst[out] = '\0';
}

static char *without_json_seconds(const char *text)
{
    char *copy = strdup(text), *p;

    while (copy && (p = strstr(copy, ",\"seconds\":"))) {
        char *end = strchr(p + 1, ',');
        if (!end)
            break;
        memmove(p, end, strlen(end) + 1);
    }
    return copy;
}

char *hh_without_seconds(const char *text, int json)
{
    int col;
    char *out;

    if (json)
        return without_json_seconds(text);
    col = csv_column(text, "seconds");
    out = calloc(strlen(text) + 2, 1);
    for (const char *p = text; out && *p;) {
        size_t len = strcspn(p, "\n");
        drop_field(out, p, len, col);
        p += len + (p[len] == '\n');
    }
    return out;
}

size_t hh_count_lines(const char *text)
{
    size_t n = 0;

    for (const char *p = text; p && *p; p++)
        n += *p == '\n';
    return n;
}

long hh_csv_sum(const char *csv, const char *name)
{
    int col = csv_column(csv, name);
    const char *p = strchr(csv, '\n');
    long sum = 0;

    while (col >= 0 && p && p[1]) {
        const char *f = p + 1;
        for (int c = 0; c < col && f; c++) {
            f = strpbrk(f, ",\n");
            f = f && *f == ',' ? f + 1 : NULL;
        }
        if (f)
            sum += strtol(f, NULL, 10);
        p = strchr(p + 1, '\n');
    }
    return sum;
}

int hh_has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; p && *p;) {
        size_t len = strcspn(p, "\n");
        if (len == n && strncmp(p, line, n) == 0)
            return 1;
        p += len + (p[len] == '\n');
    }
    return 0;
}
