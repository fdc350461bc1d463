/*
 * mtl/status.h - status codes and error messages.
 *
 * Every call that can fail because of a user, a file or a plugin returns an
 * mtl_status and leaves a one-line reason in a thread-local buffer, read with
 * mtl_error_message().  Messages follow one shape:
 *
 *     subsystem: what failed: detail (expected X, got Y)
 *
 * Library code never exits the process.
 */
#ifndef MTL_STATUS_H
#define MTL_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mtl_status {
    MTL_OK = 0,
    MTL_ERR_NOMEM = 1,   /* an allocation failed */
    MTL_ERR_INVALID = 2, /* a bad argument or a shape mismatch */
    MTL_ERR_CONFIG = 3,  /* unknown or malformed configuration */
    MTL_ERR_IO = 4,      /* a file could not be read or written */
    MTL_ERR_DATA = 5,    /* a bad data file: missing, corrupt, other version */
    MTL_ERR_ABI = 6,     /* a plugin was built for another ABI */
    MTL_ERR_PLUGIN = 7,  /* a plugin failed or broke its contract */
    MTL_ERR_NUMERIC = 8, /* non-finite values or a failed solve */
    MTL_ERR_UNSUPPORTED = 9, /* valid, but not implemented by this build */
    MTL_ERR_INTERRUPTED = 10 /* stopped by a signal or by the user */
} mtl_status;

/* "MTL_ERR_CONFIG", ... ; "MTL_UNKNOWN" for values outside the enum. */
const char *mtl_status_name(mtl_status status);

/* A short lowercase phrase: "configuration error", ... */
const char *mtl_status_phrase(mtl_status status);

/*
 * Records the reason for the failure about to be returned, printf-style, and
 * returns `status` so that callers can write `return mtl_error_set(...)`.
 * The message is kept per thread until the next call; one longer than
 * 1023 bytes is cut to 1023, its last three "...".
 */
mtl_status mtl_error_set(mtl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * Prefixes the current message with `context: ` (printf-style), keeping the
 * status.  Used by callers that add where a lower layer failed.
 */
mtl_status mtl_error_wrap(mtl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The last message of this thread; "" when none.  Owned by the library. */
const char *mtl_error_message(void);

/* Forgets the last message of this thread. */
void mtl_error_clear(void);

#ifdef __cplusplus
}
#endif

#endif /* MTL_STATUS_H */
