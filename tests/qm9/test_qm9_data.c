/*
 * The QM9 data path without the model: the .mtlq reader (values of
 * DATA.md's reference table, and one refusal per check, on bad copies of the
 * committed subset written into a temporary folder), the complete graphs and
 * their features (full and pyg), the split and the standardisation.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "graph.h"
#include "protocol.h"

#define SUBSET       MTL_TEST_SOURCE_DIR "/experiments/qm9/data/qm9-subset-1000.mtlq"
#define FULL         MTL_TEST_SOURCE_DIR "/data/qm9.mtlq"
#define SUBSET_SIZE  582888
#define SUBSET_ATOMS 17959
#define SUBSET_BONDS 18553

static char tmp_dir[] = "/tmp/mtl_test_qm9_XXXXXX";
static unsigned char *subset_bytes; /* the committed file, read once */

/* ---- helpers ----------------------------------------------------------------- */

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc(*size + 16);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *size, f), *size);
    fclose(f);
    return b;
}

/* FNV-1a 64, written again here so that the test does not trust the reader's. */
static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> 8 * i);
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> 8 * i);
}

/* Offset of section k of the subset. */
static size_t section(int k)
{
    return (size_t)get_u64(subset_bytes + 48 + 16 * k);
}

/* A copy of the subset for a test to spoil, size bytes long (plus room to grow). */
static unsigned char *copy_subset(size_t size)
{
    unsigned char *b = calloc(1, size + 16);

    assert_non_null(b);
    memcpy(b, subset_bytes, size < SUBSET_SIZE ? size : SUBSET_SIZE);
    return b;
}

/* Stores the hash of the bytes after the header, so that a content check is reached. */
static void rehash(unsigned char *b, size_t size)
{
    put_u64(b + 176, fnv(b + 184, size - 184));
}

/* Writes b to <tmp>/name and loads it; the load must fail with `status` and `message`. */
static void expect_refusal(const char *name, const unsigned char *b, size_t size, mtl_status status,
                           const char *fmt, ...)
{
    char path[512], want[1024];
    qm9_dataset *ds = (qm9_dataset *)1;
    FILE *f;
    va_list ap;

    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, size, f), size);
    fclose(f);

    /* The expected text names the file: "%s" in fmt stands for it, first. */
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    {
        char full[1200];
        snprintf(full, sizeof full, want, path);
        assert_int_equal(qm9_dataset_load(path, &ds), status);
        assert_null(ds);
        assert_string_equal(mtl_error_message(), full);
    }
    unlink(path);
}

static qm9_dataset *load_subset(void)
{
    qm9_dataset *ds = NULL;

    assert_int_equal(qm9_dataset_load(SUBSET, &ds), MTL_OK);
    assert_non_null(ds);
    return ds;
}

static int setup(void **state)
{
    size_t size;

    (void)state;
    if (!mkdtemp(tmp_dir))
        return -1;
    subset_bytes = read_all(SUBSET, &size);
    return size == SUBSET_SIZE ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(subset_bytes);
    rmdir(tmp_dir);
    return 0;
}

/* ---- the reader: values ---------------------------------------------------------- */

/* DATA.md section 7: molecules 0, 1 and 2 of the subset. */
static void test_subset_first_molecules(void **state)
{
    qm9_dataset *ds = load_subset();
    static const uint8_t x0[6][11] = {
        {0, 0, 1, 0, 0, 7, 0, 0, 1, 0, 2}, {0, 1, 0, 0, 0, 6, 0, 0, 1, 0, 1},
        {0, 0, 0, 1, 0, 8, 0, 0, 1, 0, 0}, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
        {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0}};
    static const uint8_t bonds0[5][3] = {{0, 1, 0}, {0, 3, 0}, {0, 4, 0}, {1, 2, 1}, {1, 5, 0}};
    static const uint8_t bonds1[12][3] = {{0, 1, 0}, {0, 6, 0},  {0, 7, 0}, {0, 8, 0},
                                          {1, 2, 3}, {1, 5, 3},  {2, 3, 3}, {2, 9, 0},
                                          {3, 4, 3}, {3, 10, 0}, {4, 5, 3}, {4, 11, 0}};
    /* targets of molecule 0, all 19 in the file's order */
    static const float y0[19] = {3.72860003f,  21.5699997f,  -6.91985559f, 0.821783841f,
                                 7.74163961f,  145.3078f,    1.2321043f,   -4622.14746f,
                                 -4622.04199f, -4622.01611f, -4622.82275f, 10.8900003f,
                                 -23.5312366f, -23.6567364f, -23.7852287f, -22.1246796f,
                                 73.8471985f,  11.34793f,    9.83638954f};
    const float *p;

    (void)state;
    assert_int_equal(ds->n_molecules, 1000);
    assert_int_equal(ds->n_atoms, SUBSET_ATOMS);
    assert_int_equal(ds->n_bonds, SUBSET_BONDS);
    assert_int_equal(ds->size, SUBSET_SIZE);
    assert_true(ds->hash == 0xbc3310e99b47624bull);

    assert_int_equal(ds->mol_ids[0], 12);
    assert_int_equal(ds->mol_ids[1], 202);
    assert_int_equal(ds->mol_ids[2], 277);
    assert_int_equal(qm9_mol_n_atoms(ds, 0), 6);
    assert_int_equal(qm9_mol_n_atoms(ds, 1), 12);
    assert_int_equal(qm9_mol_n_atoms(ds, 2), 18);
    assert_int_equal(ds->bond_offsets[1] - ds->bond_offsets[0], 5);
    assert_int_equal(ds->bond_offsets[2] - ds->bond_offsets[1], 12);
    assert_int_equal(ds->bond_offsets[3] - ds->bond_offsets[2], 17);

    for (int t = 0; t < 19; t++)
        assert_true(ds->targets[t] == y0[t]);
    assert_true(ds->targets[19 + 7] == -7223.46436f);  /* molecule 1, U0 */
    assert_true(ds->targets[38 + 12] == -68.8713379f); /* molecule 2, U0_atom */
    assert_true(ds->targets[38 + 11] == 28.2679996f);  /* molecule 2, cv */

    for (int a = 0; a < 6; a++)
        assert_memory_equal(ds->node_features + 11 * a, x0[a], 11);
    {
        static const uint8_t z0[6] = {7, 6, 8, 1, 1, 1};
        assert_memory_equal(ds->atomic_numbers, z0, 6);
    }
    p = ds->positions;
    assert_true(p[0] == -0.0258998591f && p[1] == 1.34614563f && p[2] == 0.00889390893f);
    assert_true(p[15] == -0.96144098f && p[16] == -0.475003749f && p[17] == 0.00807391107f);
    assert_memory_equal(ds->bonds, bonds0, sizeof bonds0);
    assert_memory_equal(ds->bonds + 15, bonds1, sizeof bonds1);
    /* molecule 2, atom 17 */
    p = ds->positions + 3 * (qm9_mol_first_atom(ds, 2) + 17);
    assert_true(p[0] == -0.317173183f && p[1] == -3.66005993f && p[2] == -1.31261361f);
    qm9_dataset_destroy(ds);
}

/* DATA.md section 7: the whole-subset figures. */
static void test_subset_totals(void **state)
{
    qm9_dataset *ds = load_subset();
    int64_t by_z[10] = {0}, by_type[4] = {0}, cols[11] = {0};
    double mu = 0, u0 = 0, cv = 0;

    (void)state;
    for (int64_t a = 0; a < ds->n_atoms; a++) {
        by_z[ds->atomic_numbers[a]]++;
        for (int c = 0; c < 11; c++)
            cols[c] += ds->node_features[11 * a + c];
    }
    for (int64_t b = 0; b < ds->n_bonds; b++)
        by_type[ds->bonds[3 * b + 2]]++;
    for (int64_t m = 0; m < ds->n_molecules; m++) {
        mu += ds->targets[19 * m + 0];
        u0 += ds->targets[19 * m + 12];
        cv += ds->targets[19 * m + 11];
    }
    assert_int_equal(by_z[1], 9164);
    assert_int_equal(by_z[6], 6328);
    assert_int_equal(by_z[7], 1079);
    assert_int_equal(by_z[8], 1365);
    assert_int_equal(by_z[9], 23);
    assert_int_equal(by_type[0], 16501);
    assert_int_equal(by_type[1], 708);
    assert_int_equal(by_type[2], 279);
    assert_int_equal(by_type[3], 1065);
    {
        static const int64_t want[11] = {9164, 6328, 1079, 1365, 23,  65812,
                                         1052, 558,  2851, 5386, 9164};
        for (int c = 0; c < 11; c++)
            assert_int_equal(cols[c], want[c]);
    }
    assert_int_equal(ds->mol_ids[0], 12);
    assert_int_equal(ds->mol_ids[999], 133389);
    assert_float_equal(mu / 1000, 2.673469, 1e-6);
    assert_float_equal(u0 / 1000, -75.907761, 1e-6);
    assert_float_equal(cv / 1000, 31.512988, 1e-6);
    qm9_dataset_destroy(ds);
}

/* DATA.md sections 7 and 8: the full file, when it has been made (it is not committed). */
static void test_full_file(void **state)
{
    qm9_dataset *ds = NULL;

    (void)state;
    if (access(FULL, R_OK) != 0)
        skip();
    assert_int_equal(qm9_dataset_load(FULL, &ds), MTL_OK);
    assert_int_equal(ds->n_molecules, 130831);
    assert_int_equal(ds->n_atoms, 2359210);
    assert_int_equal(ds->n_bonds, 2440360);
    assert_int_equal(ds->size, 76502108);
    assert_true(ds->hash == 0x913d67623a03cc44ull);
    assert_int_equal(ds->mol_ids[0], 1);
    assert_int_equal(ds->mol_ids[2], 3);
    assert_true(ds->targets[7] == -1101.48779f);  /* methane, U0 */
    assert_true(ds->targets[12] == -17.1721802f); /* methane, U0_atom */
    assert_true(ds->targets[19 + 15] == -11.2460032f);
    assert_true(ds->targets[38 + 6] == 0.581643403f);
    assert_int_equal(qm9_mol_n_atoms(ds, 0), 5);
    assert_int_equal(ds->node_features[10], 4); /* methane's carbon has 4 hydrogens */
    qm9_dataset_destroy(ds);
}

/* ---- the reader: refusals, in DATA.md's order ---------------------------------------- */

static void test_refuse_missing(void **state)
{
    char path[512], want[1024];
    qm9_dataset *ds = (qm9_dataset *)1;

    (void)state;
    snprintf(path, sizeof path, "%s/absent.mtlq", tmp_dir);
    snprintf(want, sizeof want, "dataset: cannot open '%s': No such file or directory", path);
    assert_int_equal(qm9_dataset_load(path, &ds), MTL_ERR_DATA);
    assert_null(ds);
    assert_string_equal(mtl_error_message(), want);
}

static void test_refuse_header(void **state)
{
    unsigned char *b = copy_subset(SUBSET_SIZE);

    (void)state;
    expect_refusal("short.mtlq", b, 100, MTL_ERR_DATA,
                   "dataset: '%%s' is truncated: shorter than the header (expected at least 184 "
                   "bytes, got 100)");

    b[0] = 'X';
    expect_refusal("magic.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s' is not a QM9 .mtlq file: bad magic (expected 4d544c514d390000, "
                   "got 58544c514d390000)");
    b[0] = 'M';

    put_u32(b + 8, 2);
    expect_refusal("version.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s' has an unsupported format version (expected 1, got 2); "
                   "rebuild it with tools/qm9_prepare.py");
    put_u32(b + 8, 1);

    put_u32(b + 12, 200);
    expect_refusal("header.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': bad header size (expected 184, got 200)");
    put_u32(b + 12, 184);

    put_u32(b + 40, 12);
    expect_refusal("targets.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': bad number of targets (expected 19, got 12)");
    put_u32(b + 40, 19);

    put_u32(b + 44, 9);
    expect_refusal("features.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': bad number of node features (expected 11, got 9)");
    free(b);
}

static void test_refuse_sections(void **state)
{
    unsigned char *b = copy_subset(SUBSET_SIZE);

    (void)state;
    put_u64(b + 24, 1ull << 40);
    expect_refusal("count.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': n_atoms is larger than the file (expected at most 582888, got "
                   "1099511627776)");
    put_u64(b + 24, SUBSET_ATOMS);

    put_u64(b + 48 + 16 * 3, 34168);
    expect_refusal("offset.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': section 3 (positions) starts at the wrong offset (expected "
                   "34160, got 34168)");
    put_u64(b + 48 + 16 * 3, 34160);

    /* One bond fewer in the header: the bonds section no longer has the length it implies. */
    put_u64(b + 32, SUBSET_BONDS - 1);
    expect_refusal("length.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': section 5 (bonds) has the wrong length for the header's counts "
                   "(expected 55656 bytes, got 55659)");
    put_u64(b + 32, SUBSET_BONDS);

    expect_refusal("truncated.mtlq", b, SUBSET_SIZE - 100, MTL_ERR_DATA,
                   "dataset: '%%s' is truncated (expected 582888 bytes, got 582788)");
    expect_refusal("trailing.mtlq", b, SUBSET_SIZE + 1, MTL_ERR_DATA,
                   "dataset: '%%s' has trailing bytes (expected 582888 bytes, got 582889)");
    free(b);
}

static void test_refuse_corrupt(void **state)
{
    unsigned char *b = copy_subset(SUBSET_SIZE);
    char want[512];

    (void)state;
    b[section(3) + 1000] ^= 0x40; /* one bit of a position */
    snprintf(want, sizeof want,
             "dataset: '%%s' is corrupt: FNV-1a hash of the bytes after the header differs from "
             "the header's (expected bc3310e99b47624b, got %016llx)",
             (unsigned long long)fnv(b + 184, SUBSET_SIZE - 184));
    expect_refusal("corrupt.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA, "%s", want);
    free(b);
}

/* Content faults with a consistent hash: what a buggy writer could produce. */
static void test_refuse_offsets(void **state)
{
    unsigned char *b = copy_subset(SUBSET_SIZE);
    size_t atoms = section(0), bonds = section(1);
    uint64_t a4 = get_u64(b + atoms + 8 * 4), a5 = get_u64(b + atoms + 8 * 5);

    (void)state;
    put_u64(b + atoms, 1);
    rehash(b, SUBSET_SIZE);
    expect_refusal("first.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': atom_offsets[0] is not 0 (expected 0, got 1)");
    put_u64(b + atoms, 0);

    put_u64(b + atoms + 8 * 5, a4 - 1);
    rehash(b, SUBSET_SIZE);
    expect_refusal("decrease.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': atom_offsets decrease at molecule 4 (expected at least "
                   "%llu, got %llu)",
                   (unsigned long long)a4, (unsigned long long)(a4 - 1));
    put_u64(b + atoms + 8 * 5, a5);

    put_u64(b + bonds + 8 * 1000, SUBSET_BONDS - 1);
    rehash(b, SUBSET_SIZE);
    expect_refusal("end.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': bond_offsets end at the wrong place (expected n_bonds = "
                   "18553, got 18552)");
    put_u64(b + bonds + 8 * 1000, SUBSET_BONDS);

    put_u64(b + atoms + 8, 0); /* molecule 0 loses its 6 atoms to molecule 1 */
    rehash(b, SUBSET_SIZE);
    expect_refusal("empty.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': molecule 0 has no atoms (expected at least 1)");
    free(b);
}

static void test_refuse_contents(void **state)
{
    unsigned char *b = copy_subset(SUBSET_SIZE);
    size_t z = section(2), bonds = section(5), targets = section(6);
    float nan = NAN;

    (void)state;
    b[z + 6 + 3] = 5; /* molecule 1, atom 3 (a nitrogen) becomes boron */
    rehash(b, SUBSET_SIZE);
    expect_refusal("element.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': atom 3 of molecule 1 has atomic number 5 (expected 1, 6, 7, "
                   "8 or 9)");
    b[z + 6 + 3] = 7;

    b[bonds + 3 * 4 + 1] = 6; /* molecule 0 (6 atoms), bond 4: 1-5 becomes 1-6 */
    rehash(b, SUBSET_SIZE);
    expect_refusal("range.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': bond 4 of molecule 0 joins atoms 1 and 6 (expected i < j < "
                   "6)");
    b[bonds + 3 * 4 + 1] = 1; /* 1-1: not i < j */
    rehash(b, SUBSET_SIZE);
    expect_refusal("order.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': bond 4 of molecule 0 joins atoms 1 and 1 (expected i < j < "
                   "6)");
    b[bonds + 3 * 4 + 1] = 5;

    b[bonds + 3 * 7 + 2] = 4; /* molecule 1, bond 2 */
    rehash(b, SUBSET_SIZE);
    expect_refusal("type.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': bond 2 of molecule 1 has type 4 (expected 0 to 3)");
    b[bonds + 3 * 7 + 2] = 0;

    memcpy(b + targets + 4 * (19 * 2 + 5), &nan, 4);
    rehash(b, SUBSET_SIZE);
    expect_refusal("nan.mtlq", b, SUBSET_SIZE, MTL_ERR_DATA,
                   "dataset: '%%s': target 5 of molecule 2 is not finite (expected a number, got "
                   "nan)");
    free(b);
}

/* ---- graphs -------------------------------------------------------------------------- */

static qm9_batch build(const qm9_dataset *ds, qm9_features mode, const int64_t *mols, int64_t n,
                       uint8_t **types)
{
    qm9_batch b = {0};
    int64_t unmatched;

    assert_int_equal(qm9_bond_types(ds, mode, types, &unmatched), MTL_OK);
    assert_int_equal(unmatched, 0);
    assert_int_equal(qm9_batch_build(&b, ds, *types, mode, mols, n), MTL_OK);
    return b;
}

/* The edge j -> i of the batch, or -1. */
static int64_t find_edge(const qm9_batch *b, int64_t j, int64_t i)
{
    for (int64_t e = 0; e < b->n_edges; e++)
        if (b->src[e] == j && b->dst[e] == i)
            return e;
    return -1;
}

static float distance(const qm9_dataset *ds, int64_t a, int64_t c)
{
    const float *p = ds->positions + 3 * a, *q = ds->positions + 3 * c;
    double dx = p[0] - q[0], dy = p[1] - q[1], dz = p[2] - q[2];

    return (float)sqrt(dx * dx + dy * dy + dz * dz);
}

/* Formamide (molecule 0): 6 atoms, 30 directed edges, bonds as DATA.md lists them. */
static void test_graph_formamide(void **state)
{
    qm9_dataset *ds = load_subset();
    uint8_t *types;
    qm9_batch b = build(ds, QM9_FEATURES_FULL, (int64_t[]){0}, 1, &types);
    /* edge type of the pair (j, i), -1 unbonded: 0-1 single, 0-3, 0-4, 1-2 double, 1-5 */
    int8_t type[6][6];

    (void)state;
    memset(type, -1, sizeof type);
    type[0][1] = type[1][0] = type[0][3] = type[3][0] = type[0][4] = type[4][0] = 0;
    type[1][5] = type[5][1] = 0;
    type[1][2] = type[2][1] = 1;
    assert_int_equal(b.n_graphs, 1);
    assert_int_equal(b.n_nodes, 6);
    assert_int_equal(b.n_edges, 30);
    for (int64_t e = 0; e < b.n_edges; e++) {
        const float *f = b.edge_attr + 5 * e;
        int64_t j = b.src[e], i = b.dst[e];

        assert_true(j != i);
        if (e > 0)
            assert_true(b.src[e - 1] < j || (b.src[e - 1] == j && b.dst[e - 1] < i));
        for (int c = 0; c < 4; c++)
            assert_true(f[c] == (type[j][i] == c ? 1.0f : 0.0f));
        assert_float_equal(f[4], distance(ds, j, i), 1e-6);
    }
    /* The C=O bond is 1.209 A long; the two amide hydrogens are 1.735 A apart. */
    assert_float_equal(b.edge_attr[5 * find_edge(&b, 1, 2) + 4], 1.20922, 1e-5);
    assert_float_equal(b.edge_attr[5 * find_edge(&b, 3, 4) + 4], 1.73478, 1e-5);
    for (int a = 0; a < 6; a++) {
        assert_int_equal(b.batch[a], 0);
        for (int c = 0; c < 11; c++)
            assert_true(b.x[11 * a + c] == (float)ds->node_features[11 * a + c]);
    }
    qm9_batch_free(&b);
    free(types);
    qm9_dataset_destroy(ds);
}

/* Every molecule of the subset at once: n (n - 1) edges each, none across molecules. */
static void test_graph_whole_subset(void **state)
{
    qm9_dataset *ds = load_subset();
    int64_t *all = malloc(1000 * sizeof *all), edges = 0, start = 0;
    uint8_t *types;
    qm9_batch b;

    (void)state;
    for (int64_t m = 0; m < 1000; m++) {
        int64_t n = qm9_mol_n_atoms(ds, 999 - m);
        all[m] = 999 - m; /* reversed: graph g is molecule 999 - g */
        edges += n * (n - 1);
    }
    b = build(ds, QM9_FEATURES_FULL, all, 1000, &types);
    assert_int_equal(b.n_nodes, SUBSET_ATOMS);
    assert_int_equal(b.n_edges, edges);
    for (int64_t g = 0, e = 0; g < 1000; g++) {
        int64_t n = qm9_mol_n_atoms(ds, 999 - g);

        for (int64_t k = 0; k < n * (n - 1); k++, e++) {
            assert_true(b.src[e] >= start && b.src[e] < start + n);
            assert_true(b.dst[e] >= start && b.dst[e] < start + n);
        }
        for (int64_t a = start; a < start + n; a++)
            assert_int_equal(b.batch[a], g);
        start += n;
    }
    qm9_batch_free(&b);
    free(types);
    free(all);
    qm9_dataset_destroy(ds);
}

/*
 * 4-methylimidazole (molecule 1, CC1=CNC=N1): pyg zeroes columns 6-9 and
 * writes the ring's only Kekule form, 1=2 and 4=5 double, the others single.
 */
static void test_graph_pyg_features(void **state)
{
    qm9_dataset *ds = load_subset();
    uint8_t *types;
    qm9_batch full = build(ds, QM9_FEATURES_FULL, (int64_t[]){1}, 1, &types);
    qm9_batch pyg;
    int64_t by_type[4] = {0};
    static const int ring[5][3] = {{1, 2, 1}, {1, 5, 0}, {2, 3, 0}, {3, 4, 0}, {4, 5, 1}};

    (void)state;
    free(types);
    pyg = build(ds, QM9_FEATURES_PYG, (int64_t[]){1}, 1, &types);
    assert_true(full.x[11 * 1 + 6] == 1.0f && full.x[11 * 1 + 8] == 1.0f);
    for (int a = 0; a < 12; a++)
        for (int c = 0; c < 11; c++)
            assert_true(pyg.x[11 * a + c] == (c >= 6 && c <= 9 ? 0.0f : full.x[11 * a + c]));
    for (int r = 0; r < 5; r++) {
        int64_t e = find_edge(&pyg, ring[r][0], ring[r][1]);
        int64_t back = find_edge(&pyg, ring[r][1], ring[r][0]);

        assert_true(full.edge_attr[5 * e + 3] == 1.0f);
        for (int c = 0; c < 4; c++) {
            assert_true(pyg.edge_attr[5 * e + c] == (c == ring[r][2] ? 1.0f : 0.0f));
            assert_true(pyg.edge_attr[5 * back + c] == pyg.edge_attr[5 * e + c]);
        }
        assert_true(pyg.edge_attr[5 * e + 4] == full.edge_attr[5 * e + 4]);
    }

    /* Over the subset: no aromatic bond is left, the other bonds are unchanged. */
    for (int64_t k = 0; k < ds->n_bonds; k++) {
        by_type[types[k]]++;
        if (ds->bonds[3 * k + 2] != QM9_BOND_AROMATIC)
            assert_int_equal(types[k], ds->bonds[3 * k + 2]);
    }
    assert_int_equal(by_type[3], 0);
    assert_int_equal(by_type[0] + by_type[1] + by_type[2], SUBSET_BONDS);
    assert_true(by_type[1] > 708); /* some aromatic bonds became double */
    qm9_batch_free(&full);
    qm9_batch_free(&pyg);
    free(types);
    qm9_dataset_destroy(ds);
}

/* Every aromatic atom that has a valence left gets exactly one double bond. */
static void test_kekule_valences(void **state)
{
    qm9_dataset *ds = load_subset();
    uint8_t *types;
    int64_t unmatched, checked = 0;

    (void)state;
    assert_int_equal(qm9_bond_types(ds, QM9_FEATURES_PYG, &types, &unmatched), MTL_OK);
    assert_int_equal(unmatched, 0);
    for (int64_t m = 0; m < ds->n_molecules; m++) {
        int64_t first = qm9_mol_first_atom(ds, m), n = qm9_mol_n_atoms(ds, m);

        for (int64_t a = 0; a < n; a++) {
            int z = ds->atomic_numbers[first + a], order = 0, aromatic = 0;
            int valence = z == 6 ? 4 : z == 7 ? 3 : z == 8 ? 2 : 1;

            for (uint64_t k = ds->bond_offsets[m]; k < ds->bond_offsets[m + 1]; k++) {
                const uint8_t *r = ds->bonds + 3 * k;
                if (r[0] != a && r[1] != a)
                    continue;
                order += types[k] + 1;
                aromatic += r[2] == QM9_BOND_AROMATIC;
            }
            /* Neutral ring atoms end with their full valence; charged N may exceed it by one. */
            if (aromatic > 0) {
                assert_true(order == valence || (z == 7 && order == 4));
                checked++;
            }
        }
    }
    assert_int_equal(checked, 1052); /* the aromatic atoms of the subset (DATA.md column 6) */
    free(types);
    qm9_dataset_destroy(ds);
}

/*
 * Kekule forms of hand-made rings (hydrogens included, bonds as the file
 * lists them): benzene alternates; pyrrole's NH keeps single bonds; the
 * cyclopentadienide anion pairs four of its five carbons (one is counted as
 * unmatched: it carries the charge); pyridinium's N+ takes a double bond only
 * because the five carbons cannot pair up alone.
 */
typedef struct ring_case {
    int n_ring, hetero_z, hetero_h; /* ring atoms 0..n-1, atom 0 the heteroatom (or C) */
    int doubles, n_plus, unmatched;
} ring_case;

static void kekule_ring(const ring_case *c)
{
    uint8_t z[16], bonds[3 * 32];
    uint64_t atom_off[2] = {0, 0}, bond_off[2] = {0, 0};
    int n = 0, nb = 0, doubles = 0, order0 = 0;
    qm9_dataset ds;
    uint8_t *types;
    int64_t unmatched;

    memset(&ds, 0, sizeof ds);
    for (int a = 0; a < c->n_ring; a++)
        z[n++] = a == 0 ? (uint8_t)c->hetero_z : 6;
    for (int a = 0; a < c->n_ring; a++) {
        int b = (a + 1) % c->n_ring, lo = a < b ? a : b, hi = a < b ? b : a;
        bonds[3 * nb] = (uint8_t)lo;
        bonds[3 * nb + 1] = (uint8_t)hi;
        bonds[3 * nb++ + 2] = QM9_BOND_AROMATIC;
    }
    for (int a = 0; a < c->n_ring; a++) /* one H per carbon, hetero_h on atom 0 */
        for (int h = 0; h < (a == 0 && c->hetero_z != 6 ? c->hetero_h : 1); h++) {
            z[n] = 1;
            bonds[3 * nb] = (uint8_t)a;
            bonds[3 * nb + 1] = (uint8_t)n++;
            bonds[3 * nb++ + 2] = QM9_BOND_SINGLE;
        }
    atom_off[1] = (uint64_t)n;
    bond_off[1] = (uint64_t)nb;
    ds.n_molecules = 1;
    ds.n_atoms = n;
    ds.n_bonds = nb;
    ds.atom_offsets = atom_off;
    ds.bond_offsets = bond_off;
    ds.atomic_numbers = z;
    ds.bonds = bonds;

    assert_int_equal(qm9_bond_types(&ds, QM9_FEATURES_PYG, &types, &unmatched), MTL_OK);
    for (int b = 0; b < nb; b++) {
        assert_true(types[b] == QM9_BOND_SINGLE || types[b] == QM9_BOND_DOUBLE);
        doubles += types[b] == QM9_BOND_DOUBLE;
        if (bonds[3 * b] == 0)
            order0 += types[b] + 1;
    }
    assert_int_equal(doubles, c->doubles);
    assert_int_equal(unmatched, c->unmatched);
    if (c->n_plus)
        assert_int_equal(order0, 4); /* N+: two ring bonds (one double) and its H */
    free(types);

    /* full keeps the file's types. */
    assert_int_equal(qm9_bond_types(&ds, QM9_FEATURES_FULL, &types, &unmatched), MTL_OK);
    for (int b = 0; b < nb; b++)
        assert_int_equal(types[b], bonds[3 * b + 2]);
    assert_int_equal(unmatched, 0);
    free(types);
}

static void test_kekule_rings(void **state)
{
    static const ring_case benzene = {6, 6, 1, 3, 0, 0};
    static const ring_case pyrrole = {5, 7, 1, 2, 0, 0};
    static const ring_case cyclopentadienide = {5, 6, 1, 2, 0, 1};
    static const ring_case pyridinium = {6, 7, 1, 3, 1, 0};
    static const ring_case pyridine = {6, 7, 0, 3, 0, 0};

    (void)state;
    kekule_ring(&benzene);
    kekule_ring(&pyrrole);
    kekule_ring(&cyclopentadienide);
    kekule_ring(&pyridinium);
    kekule_ring(&pyridine);
}

/* ---- split and standardisation -------------------------------------------------------- */

static void test_split(void **state)
{
    qm9_split a, b, c;
    char *seen = calloc(1000, 1);

    (void)state;
    assert_int_equal(qm9_split_make(&a, 1000, 100, 200, 7), MTL_OK);
    assert_int_equal(a.n_test, 100);
    assert_int_equal(a.n_val, 200);
    assert_int_equal(a.n_train, 700);
    assert_ptr_equal(qm9_split_val(&a), a.order + 100);
    assert_ptr_equal(qm9_split_train(&a), a.order + 300);
    for (int i = 0; i < 1000; i++) {
        assert_true(a.order[i] >= 0 && a.order[i] < 1000);
        assert_int_equal(seen[a.order[i]]++, 0);
    }
    /* Shuffled, deterministic for a seed, different for another. */
    assert_int_equal(qm9_split_make(&b, 1000, 100, 200, 7), MTL_OK);
    assert_int_equal(qm9_split_make(&c, 1000, 100, 200, 8), MTL_OK);
    assert_memory_equal(a.order, b.order, 1000 * sizeof *a.order);
    assert_memory_not_equal(a.order, c.order, 1000 * sizeof *a.order);
    {
        int fixed = 0;
        for (int i = 0; i < 1000; i++)
            fixed += a.order[i] == i;
        assert_true(fixed < 20);
    }
    qm9_split_free(&a);
    qm9_split_free(&b);
    qm9_split_free(&c);

    /* The paper's sizes on the subset leave nothing to train on. */
    assert_int_equal(qm9_split_make(&a, 1000, 10000, 10000, 7), MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "split: task.test_size + task.val_size leave no training molecule "
                        "(expected a sum below 1000, got 10000 + 10000)");
    assert_int_equal(qm9_split_make(&a, 1000, 500, 500, 7), MTL_ERR_CONFIG);
    /* Sizes whose sum wraps are refused, never read as a negative sum. */
    assert_int_equal(qm9_split_make(&a, 1000, INT64_MAX, 100, 7), MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "split: task.test_size + task.val_size leave no training molecule "
                        "(expected a sum below 1000, got 9223372036854775807 + 100)");
    assert_int_equal(qm9_split_make(&a, 1000, INT64_MAX, INT64_MAX, 7), MTL_ERR_CONFIG);
    free(seen);
}

/* Mean and (n - 1) std of the training split only, recomputed here in long double. */
static void test_standardisation(void **state)
{
    qm9_dataset *ds = load_subset();
    qm9_split s;
    double mean[QM9_N_TASKS], std[QM9_N_TASKS], all_mean[QM9_N_TASKS], all_std[QM9_N_TASKS];
    float *y;
    int64_t *everyone = malloc(1000 * sizeof *everyone);

    (void)state;
    assert_int_equal(qm9_split_make(&s, 1000, 150, 150, 3), MTL_OK);
    assert_int_equal(qm9_target_stats(ds, qm9_split_train(&s), s.n_train, mean, std), MTL_OK);
    for (int t = 0; t < QM9_N_TASKS; t++) {
        const int64_t *tr = qm9_split_train(&s);
        int c = qm9_task_columns[t];
        long double sum = 0, sq = 0, m;

        for (int64_t i = 0; i < s.n_train; i++)
            sum += ds->targets[19 * tr[i] + c];
        m = sum / s.n_train;
        for (int64_t i = 0; i < s.n_train; i++)
            sq += (ds->targets[19 * tr[i] + c] - m) * (ds->targets[19 * tr[i] + c] - m);
        assert_float_equal(mean[t], (double)m, 1e-9 * fabs((double)m) + 1e-12);
        assert_float_equal(std[t], sqrt((double)(sq / (s.n_train - 1))), 1e-9 * std[t]);
    }
    /* U0_atom's column is 12, cv's is 11: the task order is REFERENCE.md's. */
    assert_int_equal(qm9_task_columns[6], 12);
    assert_int_equal(qm9_task_columns[10], 11);

    /* The whole set's statistics differ: these are the training split's. */
    for (int i = 0; i < 1000; i++)
        everyone[i] = i;
    assert_int_equal(qm9_target_stats(ds, everyone, 1000, all_mean, all_std), MTL_OK);
    assert_true(mean[0] != all_mean[0] && std[0] != all_std[0]);

    /* Standardised training targets have mean 0 and std 1. */
    assert_int_equal(qm9_targets_standardise(ds, mean, std, &y), MTL_OK);
    for (int t = 0; t < QM9_N_TASKS; t++) {
        double sum = 0, sq = 0;
        const int64_t *tr = qm9_split_train(&s);

        for (int64_t i = 0; i < s.n_train; i++)
            sum += y[11 * tr[i] + t];
        for (int64_t i = 0; i < s.n_train; i++)
            sq += (y[11 * tr[i] + t] - sum / s.n_train) * (y[11 * tr[i] + t] - sum / s.n_train);
        assert_float_equal(sum / s.n_train, 0.0, 1e-5);
        assert_float_equal(sqrt(sq / (s.n_train - 1)), 1.0, 1e-5);
    }
    /* A constant target cannot be standardised. */
    assert_int_equal(qm9_target_stats(ds, everyone, 1, all_mean, all_std), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "standardisation: target mu has no spread over the 1 training molecules "
                        "(expected a positive standard deviation, got 0)");
    free(y);
    free(everyone);
    qm9_split_free(&s);
    qm9_dataset_destroy(ds);
}

/* The units of the report: energies in meV, the reference's baselines. */
static void test_task_table(void **state)
{
    static const char *const mev[] = {"homo", "lumo", "zpve", "U0", "U", "H", "G"};

    (void)state;
    for (int t = 0; t < QM9_N_TASKS; t++) {
        int is_mev = 0;

        for (int i = 0; i < 7; i++)
            is_mev |= strcmp(qm9_task_names[t], mev[i]) == 0;
        assert_string_equal(qm9_task_metrics[t].name, qm9_task_names[t]);
        assert_int_equal(qm9_task_metrics[t].task, t);
        assert_int_equal(qm9_task_metrics[t].higher_is_better, 0);
        assert_true(qm9_task_report_scale[t] == (is_mev ? 1000.0 : 1.0));
        if (is_mev)
            assert_string_equal(qm9_task_metrics[t].unit, "meV");
    }
    assert_true(qm9_task_metrics[2].baseline == 60.576);
    assert_true(qm9_task_metrics[10].baseline == 0.07212);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subset_first_molecules),
        cmocka_unit_test(test_subset_totals),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_refuse_missing),
        cmocka_unit_test(test_refuse_header),
        cmocka_unit_test(test_refuse_sections),
        cmocka_unit_test(test_refuse_corrupt),
        cmocka_unit_test(test_refuse_offsets),
        cmocka_unit_test(test_refuse_contents),
        cmocka_unit_test(test_graph_formamide),
        cmocka_unit_test(test_graph_whole_subset),
        cmocka_unit_test(test_graph_pyg_features),
        cmocka_unit_test(test_kekule_valences),
        cmocka_unit_test(test_kekule_rings),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_standardisation),
        cmocka_unit_test(test_task_table),
    };

    return cmocka_run_group_tests_name("qm9 data", tests, setup, teardown);
}
