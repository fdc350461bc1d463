/*
 * host/crc.h - CRC-32C (Castagnoli), the checksum of TFRecord framing
 * (TensorBoard event files) and of the host's checkpoints.
 */
#ifndef MTL_HOST_CRC_H
#define MTL_HOST_CRC_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of n bytes, continuing from `crc` (0 to start). */
uint32_t host_crc32c(uint32_t crc, const void *data, size_t n);

/* TFRecord's masked form: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
uint32_t host_crc32c_masked(const void *data, size_t n);

#endif /* MTL_HOST_CRC_H */
