/*
 * size.h -- sizes the way people write them: "512M", "1.5G", "4096".
 *
 * Suffixes are binary (K = 1024) and case-insensitive; an optional trailing
 * "B" or "iB" is accepted.  Nothing here prints or exits.
 */
#ifndef ZP_SIZE_H
#define ZP_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Parse s into *bytes.  0, or -1 with *cause set (bad number, overflow). */
int		 size_parse(const char *s, uint64_t *bytes, const char **cause);

/* Format with at most one decimal and no trailing ".0": "512M", "1.5G". */
const char	*size_format(uint64_t bytes, char *buf, size_t len);

/* A budget or limit, where 0 means none: "none", or as size_format. */
const char	*size_format_limit(uint64_t bytes, char *buf, size_t len);

#define SIZE_FORMAT_LEN	24

#endif /* ZP_SIZE_H */
