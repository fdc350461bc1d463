/*
 * mtl/version.h - release and ABI versions of the mtl SDK.
 *
 * The ABI version is what plugins are checked against.  A plugin built
 * against ABI major M loads in a host of the same major M; a newer minor
 * only ever appends fields to the end of the public structs, so an older
 * plugin (smaller struct) keeps working and the host reads the struct's
 * size field before touching any field added later.
 */
#ifndef MTL_VERSION_H
#define MTL_VERSION_H

#define MTL_VERSION_MAJOR  0
#define MTL_VERSION_MINOR  1
#define MTL_VERSION_PATCH  0
#define MTL_VERSION_STRING "0.1.0"

/* Bump the major on any incompatible change of a public struct or call. */
#define MTL_ABI_MAJOR 1
/* Bump the minor when fields are appended to a public struct. */
#define MTL_ABI_MINOR 0

#endif /* MTL_VERSION_H */
