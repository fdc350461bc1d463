/* Finding, opening and checking plugins (see loader.h). */
#include "loader.h"

#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_word(mtl_plugin_kind kind)
{
    return kind == MTL_PLUGIN_METHOD ? "method" : "task";
}

static const char *entry_symbol(mtl_plugin_kind kind)
{
    return kind == MTL_PLUGIN_METHOD ? MTL_METHOD_ENTRY_SYMBOL : MTL_TASK_ENTRY_SYMBOL;
}

static mtl_plugin_kind other_kind(mtl_plugin_kind kind)
{
    return kind == MTL_PLUGIN_METHOD ? MTL_PLUGIN_TASK : MTL_PLUGIN_METHOD;
}

/*
 * The size of the plugin struct at ABI minor 0: no plugin may be smaller.  It
 * equals sizeof while MTL_ABI_MINOR is 0; once a minor appends fields, it
 * must stay the minor-0 size (the offset of the first appended field), and
 * the host must check the header's size before reading an appended field.
 */
static size_t min_size(mtl_plugin_kind kind)
{
    /* The task's state_save/state_load were appended after the first tasks were built. */
    return kind == MTL_PLUGIN_METHOD ? sizeof(mtl_method_plugin)
                                     : offsetof(mtl_task_plugin, state_save);
}

int host_task_has_state(const mtl_task_plugin *t)
{
    size_t end = offsetof(mtl_task_plugin, state_load) + sizeof t->state_load;

    return t->header.size >= end && t->state_save && t->state_load;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

static int is_path(const char *arg)
{
    return strchr(arg, '/') != NULL || ends_with(arg, ".so");
}

/* ---- finding the file ------------------------------------------------- */

static int is_so_file(const struct dirent *d)
{
    return ends_with(d->d_name, ".so") && strlen(d->d_name) > 3;
}

/* The .so names (without .so) of every folder, for "did you mean". */
static size_t collect_stems(const host_paths *paths, char stems[][64], size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < paths->n_plugin_dirs; i++) {
        struct dirent **list = NULL;
        int m = scandir(paths->plugin_dirs[i], &list, is_so_file, alphasort);
        for (int j = 0; j < m; j++) {
            if (n < cap)
                snprintf(stems[n++], 64, "%.*s", (int)(strlen(list[j]->d_name) - 3),
                         list[j]->d_name);
            free(list[j]);
        }
        free(list);
    }
    return n;
}

static mtl_status not_found(const host_paths *paths, mtl_plugin_kind kind, const char *name)
{
    static char stems[256][64];
    const char *items[256];
    char searched[4096];
    size_t n = collect_stems(paths, stems, 256);
    const char *near;

    for (size_t i = 0; i < n; i++)
        items[i] = stems[i];
    near = host_nearest(name, items, n);
    host_paths_describe(paths, searched, sizeof searched);
    return mtl_error_set(MTL_ERR_PLUGIN,
                         "loader: %s plugin not found: %s (expected %s.so in %s%s%s%s)",
                         kind_word(kind), name, name, searched, near ? "; did you mean '" : "",
                         near ? near : "", near ? "'?" : "");
}

static mtl_status resolve(const host_paths *paths, mtl_plugin_kind kind, const char *arg,
                          char **path)
{
    char candidate[4096];

    if (is_path(arg)) {
        *path = host_strdup(arg);
        return *path ? MTL_OK : mtl_error_set(MTL_ERR_NOMEM, "loader: out of memory");
    }
    for (size_t i = 0; i < paths->n_plugin_dirs; i++) {
        snprintf(candidate, sizeof candidate, "%s/%s.so", paths->plugin_dirs[i], arg);
        if (access(candidate, F_OK) == 0) {
            *path = host_strdup(candidate);
            return *path ? MTL_OK : mtl_error_set(MTL_ERR_NOMEM, "loader: out of memory");
        }
    }
    return not_found(paths, kind, arg);
}

/*
 * A file cut short makes the dynamic loader fault (SIGBUS) when it touches a
 * mapped page past the end, so the ELF header, the program headers and every
 * PT_LOAD segment's file range, and the section header table, must lie within the file.
 */
static mtl_status elf_refuse(const char *path, const char *what, unsigned long long need,
                             unsigned long long size)
{
    return mtl_error_set(MTL_ERR_PLUGIN,
                         "loader: truncated or corrupt shared object: %s: %s ends past the end of "
                         "the file (expected a file of at least %llu bytes, got %llu)",
                         path, what, need, size);
}

static int range_past(unsigned long long off, unsigned long long len, unsigned long long size)
{
    return off > size || len > size - off;
}

static mtl_status check_elf(const char *path, int fd, unsigned long long size)
{
    Elf64_Ehdr eh;
    char what[64];

    if (size < sizeof eh || pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh)
        return elf_refuse(path, "the ELF header", sizeof eh, size);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "loader: not a shared object for this host: %s (expected a 64-bit "
                             "ELF file, got ELF class %d)",
                             path, eh.e_ident[EI_CLASS]);
    if (eh.e_phentsize != sizeof(Elf64_Phdr) && eh.e_phnum > 0)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "loader: corrupt shared object: %s: program header size (expected "
                             "%zu, got %u)",
                             path, sizeof(Elf64_Phdr), eh.e_phentsize);
    if (range_past(eh.e_phoff, (unsigned long long)eh.e_phnum * sizeof(Elf64_Phdr), size))
        return elf_refuse(path, "the program header table",
                          eh.e_phoff + (unsigned long long)eh.e_phnum * sizeof(Elf64_Phdr), size);
    if (eh.e_shnum > 0 &&
        range_past(eh.e_shoff, (unsigned long long)eh.e_shnum * eh.e_shentsize, size))
        return elf_refuse(path, "the section header table",
                          eh.e_shoff + (unsigned long long)eh.e_shnum * eh.e_shentsize, size);
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        off_t at = (off_t)(eh.e_phoff + (unsigned long long)i * sizeof ph);

        if (pread(fd, &ph, sizeof ph, at) != (ssize_t)sizeof ph)
            return elf_refuse(path, "the program header table", (unsigned long long)at + sizeof ph,
                              size);
        if (ph.p_type == PT_LOAD && range_past(ph.p_offset, ph.p_filesz, size)) {
            snprintf(what, sizeof what, "PT_LOAD segment %u", i);
            return elf_refuse(path, what, ph.p_offset + ph.p_filesz, size);
        }
    }
    return MTL_OK;
}

/* Refuses what dlopen would refuse with a less helpful message, or crash on. */
static mtl_status check_file(const char *path, const char *shown)
{
    static const unsigned char elf[4] = {0x7f, 'E', 'L', 'F'};
    unsigned char magic[4] = {0};
    struct stat sb;
    char why[128];
    int fd;
    ssize_t got;
    mtl_status st;

    if (stat(path, &sb) != 0 && errno == ENOENT)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "loader: plugin not found: %s (expected an existing file)", shown);
    if (stat(path, &sb) != 0)
        return mtl_error_set(MTL_ERR_PLUGIN, "loader: cannot open plugin: %s: %s", shown,
                             host_strerror(errno, why, sizeof why));
    if (!S_ISREG(sb.st_mode))
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "loader: not a shared object: %s (expected an ELF shared object, got "
                             "%s)",
                             shown, host_file_kind(sb.st_mode));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mtl_error_set(MTL_ERR_PLUGIN, "loader: cannot open plugin: %s: %s", shown,
                             host_strerror(errno, why, sizeof why));
    got = pread(fd, magic, sizeof magic, 0);
    if (got != (ssize_t)sizeof magic || memcmp(magic, elf, sizeof elf) != 0) {
        close(fd);
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "loader: not a shared object: %s (expected an ELF shared object, got "
                             "a file without an ELF header)",
                             shown);
    }
    st = check_elf(shown, fd, (unsigned long long)sb.st_size);
    close(fd);
    return st;
}

/* ---- opening it ------------------------------------------------------- */

static mtl_status open_dl(const char *path, const char *shown, void **dl)
{
    const char *why;
    size_t n = strlen(path);

    *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (*dl)
        return MTL_OK;
    why = dlerror();
    why = why ? why : "unknown reason";
    /* dlerror() starts with the path, which the message already names. */
    if (strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0)
        why += n + 2;
    return mtl_error_set(MTL_ERR_PLUGIN, "loader: cannot load plugin: %s: %s", shown, why);
}

/* The plugin's struct from its entry function; *wrong_kind when it is the other kind. */
static mtl_status call_entry(void *dl, const char *path, mtl_plugin_kind kind,
                             const mtl_plugin_header **header, int *wrong_kind)
{
    void *sym = dlsym(dl, entry_symbol(kind));
    const void *(*entry)(void);

    if (!sym) {
        if (dlsym(dl, entry_symbol(other_kind(kind)))) {
            *wrong_kind = 1;
            return mtl_error_set(MTL_ERR_PLUGIN,
                                 "loader: wrong plugin kind: %s is a %s plugin (expected a %s "
                                 "plugin exporting %s)",
                                 path, kind_word(other_kind(kind)), kind_word(kind),
                                 entry_symbol(kind));
        }
        return mtl_error_set(MTL_ERR_PLUGIN, "loader: no entry symbol: %s (expected %s)", path,
                             entry_symbol(kind));
    }
    *(void **)&entry = sym;
    *header = entry();
    if (!*header)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "loader: no plugin struct: %s (expected a pointer from %s, got NULL)",
                             path, entry_symbol(kind));
    return MTL_OK;
}

static mtl_status check_header(const char *path, mtl_plugin_kind kind, const mtl_plugin_header *h)
{
    if (h->abi_major != MTL_ABI_MAJOR)
        return mtl_error_set(MTL_ERR_ABI,
                             "loader: incompatible plugin ABI: %s: built for ABI %u.%u, this host "
                             "is ABI %d.%d (expected major %d, got %u)",
                             path, h->abi_major, h->abi_minor, MTL_ABI_MAJOR, MTL_ABI_MINOR,
                             MTL_ABI_MAJOR, h->abi_major);
    if (h->size < min_size(kind))
        return mtl_error_set(MTL_ERR_ABI,
                             "loader: plugin struct too small: %s (expected at least %zu bytes, "
                             "got %u)",
                             path, min_size(kind), h->size);
    if (h->kind != (uint32_t)kind)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "loader: wrong plugin kind: %s: its header says kind %u (expected "
                             "%d, a %s plugin)",
                             path, h->kind, (int)kind, kind_word(kind));
    return MTL_OK;
}

/* ---- its contract ----------------------------------------------------- */

static mtl_status missing(const char *path, const char *field)
{
    return mtl_error_set(MTL_ERR_PLUGIN,
                         "loader: plugin breaks its contract: %s: %s is NULL (expected a "
                         "function)",
                         path, field);
}

static mtl_status check_common(const char *path, const char *name, const mtl_option *options,
                               size_t n_options)
{
    mtl_status st;

    if (!name || !*name)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "loader: plugin breaks its contract: %s: no name (expected the code "
                             "name users type)",
                             path);
    st = host_options_check(options, n_options);
    if (st != MTL_OK)
        return mtl_error_wrap(st, "loader: bad option declaration: %s", path);
    return MTL_OK;
}

static mtl_status check_method(const char *path, const mtl_method_plugin *m)
{
    if (!m->create)
        return missing(path, "create");
    if (!m->destroy)
        return missing(path, "destroy");
    if (!m->plan)
        return missing(path, "plan");
    if (!m->weigh)
        return missing(path, "weigh");
    return check_common(path, m->name, m->options, m->n_options);
}

static mtl_status check_task(const char *path, const mtl_task_plugin *t)
{
    if (!t->create)
        return missing(path, "create");
    if (!t->destroy)
        return missing(path, "destroy");
    if (!t->epoch_begin)
        return missing(path, "epoch_begin");
    if (!t->forward)
        return missing(path, "forward");
    if (!t->metrics)
        return missing(path, "metrics");
    return check_common(path, t->name, t->options, t->n_options);
}

/* ---- loading ---------------------------------------------------------- */

static mtl_status load_path(host_plugin *p, mtl_plugin_kind kind, int *wrong_kind)
{
    const mtl_plugin_header *h = NULL;
    char buf[256];
    const char *shown = host_path_short(p->path, buf, sizeof buf);
    mtl_status st;

    if ((st = check_file(p->path, shown)) != MTL_OK ||
        (st = open_dl(p->path, shown, &p->dl)) != MTL_OK)
        return st;
    if ((st = call_entry(p->dl, shown, kind, &h, wrong_kind)) != MTL_OK ||
        (st = check_header(shown, kind, h)) != MTL_OK)
        return st;
    p->kind = kind;
    if (kind == MTL_PLUGIN_METHOD) {
        p->method = (const mtl_method_plugin *)h;
        p->name = p->method->name;
        return check_method(shown, p->method);
    }
    p->task = (const mtl_task_plugin *)h;
    p->name = p->task->name;
    return check_task(shown, p->task);
}

/*
 * A run's config.ini records the plugin's path as given and its absolute
 * path (its header lines, read back by --resume): a control character in
 * either (a newline would start a line of its own) is refused before the
 * file is opened, here and in the listings.
 */
static mtl_status check_recordable(const char *path)
{
    char *real = realpath(path, NULL);
    mtl_status st = host_refuse_control(MTL_ERR_PLUGIN, "loader: the plugin's path", path);

    if (st == MTL_OK && real)
        st = host_refuse_control(MTL_ERR_PLUGIN, "loader: the plugin's path", real);
    free(real);
    return st;
}

mtl_status host_plugin_load(host_plugin *p, const host_paths *paths, mtl_plugin_kind kind,
                            const char *arg)
{
    int wrong_kind = 0;
    mtl_status st;

    memset(p, 0, sizeof *p);
    st = resolve(paths, kind, arg, &p->path);
    if (st == MTL_OK)
        st = check_recordable(p->path);
    if (st == MTL_OK)
        st = load_path(p, kind, &wrong_kind);
    if (st != MTL_OK)
        host_plugin_unload(p);
    return st;
}

void host_plugin_unload(host_plugin *p)
{
    if (p->dl)
        dlclose(p->dl);
    free(p->path);
    memset(p, 0, sizeof *p);
}

/* ---- listing ---------------------------------------------------------- */

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

static void describe_loaded(const host_plugin *p, const char *file, host_buf *out)
{
    const mtl_plugin_header *h = p->method ? &p->method->header : &p->task->header;
    const char *version = p->method ? p->method->version : p->task->version;
    const char *description = p->method ? p->method->description : p->task->description;

    host_buf_printf(out, "  %-14s %-8s ABI %u.%u  %s", p->name, or_dash(version), h->abi_major,
                    h->abi_minor, or_dash(description));
    /* Two files may carry one name: the file then tells which is which. */
    if (strncmp(p->name, file, strlen(file) - 3) != 0 || strlen(p->name) != strlen(file) - 3)
        host_buf_printf(out, " (in %s)", p->path);
}

static void list_one(const char *dir, const char *file, const char *shadowed_by,
                     mtl_plugin_kind kind, host_buf *out)
{
    host_plugin p = {0};
    int wrong_kind = 0;
    size_t n = strlen(dir) + strlen(file) + 2;
    mtl_status st;

    p.path = malloc(n);
    if (!p.path) {
        out->failed = 1;
        return;
    }
    snprintf(p.path, n, "%s/%s", dir, file);
    st = check_recordable(p.path);
    if (st == MTL_OK)
        st = load_path(&p, kind, &wrong_kind);
    if (!wrong_kind) {
        if (st == MTL_OK)
            describe_loaded(&p, file, out);
        else
            host_buf_printf(out, "  %-14.*s rejected: %s", (int)(strlen(file) - 3), file,
                            mtl_error_message());
        if (shadowed_by)
            host_buf_printf(out, " (shadowed by %s)", shadowed_by);
        host_buf_printf(out, "\n");
    }
    host_plugin_unload(&p);
}

/* The same file in an earlier folder of the search path, which a name finds first. */
static const char *earlier(const host_paths *paths, size_t dir, const char *file, char *buf,
                           size_t cap)
{
    for (size_t d = 0; d < dir; d++) {
        snprintf(buf, cap, "%s/%s", paths->plugin_dirs[d], file);
        if (access(buf, F_OK) == 0)
            return buf;
    }
    return NULL;
}

mtl_status host_plugin_list(const host_paths *paths, mtl_plugin_kind kind, host_buf *out)
{
    char searched[4096], shadow[4096];
    size_t before;

    host_paths_describe(paths, searched, sizeof searched);
    host_buf_printf(out, "%s plugins (search path: %s):\n", kind_word(kind), searched);
    before = out->len;
    for (size_t i = 0; i < paths->n_plugin_dirs; i++) {
        struct dirent **list = NULL;
        int m = scandir(paths->plugin_dirs[i], &list, is_so_file, alphasort);
        for (int j = 0; j < m; j++) {
            const char *file = list[j]->d_name;
            list_one(paths->plugin_dirs[i], file, earlier(paths, i, file, shadow, sizeof shadow),
                     kind, out);
            free(list[j]);
        }
        free(list);
    }
    if (out->len == before)
        host_buf_printf(out, "  none found\n");
    return host_buf_status(out, "listing plugins");
}
