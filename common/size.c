/*
 * size.c -- parse and print human sizes.
 */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "size.h"

static const char units[] = "KMGTPE";
#define DIGITS	"0123456789"

int
size_parse(const char *s, uint64_t *bytes, const char **cause)
{
	char		*end;
	const char	*u;
	double		 v, mult = 1;
	size_t		 digits, frac;

	if (s != NULL && *s == '-') {
		*cause = "a size cannot be negative";
		return -1;
	}
	/* Decimal digits, maybe a fraction: no sign, hex or exponent. */
	if (s == NULL || (digits = strspn(s, DIGITS)) == 0) {
		*cause = "not a size";
		return -1;
	}
	if (s[digits] == '.') {
		if ((frac = strspn(s + digits + 1, DIGITS)) == 0) {
			*cause = "not a size";
			return -1;
		}
		digits += 1 + frac;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end != s + digits || !isfinite(v)) {
		*cause = "not a size";
		return -1;
	}
	if (*end != '\0') {
		if ((u = strchr(units, toupper((unsigned char)*end))) == NULL) {
			*cause = "unknown size suffix (use K, M, G, T)";
			return -1;
		}
		mult = ldexp(1.0, 10 * (int)(u - units + 1));
		end++;
		if (strcasecmp(end, "b") == 0 || strcasecmp(end, "ib") == 0)
			end += strlen(end);
		if (*end != '\0') {
			*cause = "trailing characters after the size";
			return -1;
		}
	}
	v *= mult;
	if (v >= 18446744073709551616.0) {
		*cause = "size too large";
		return -1;
	}
	if (v != floor(v)) {
		*cause = "size is not a whole number of bytes";
		return -1;
	}
	*bytes = (uint64_t)v;
	return 0;
}

const char *
size_format(uint64_t bytes, char *buf, size_t len)
{
	double	v = (double)bytes;
	int	u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
		return buf;
	}
	while (v >= 1024 && u < (int)sizeof units - 2) {
		v /= 1024;
		u++;
	}
	/* Round to one decimal; print it only when it says something. */
	v = round(v * 10) / 10;
	if (v >= 1024 && u < (int)sizeof units - 2) {
		v /= 1024;
		u++;
	}
	if (v == floor(v))
		snprintf(buf, len, "%.0f%c", v, units[u]);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
	return buf;
}

const char *
size_format_limit(uint64_t bytes, char *buf, size_t len)
{
	if (bytes != 0)
		return size_format(bytes, buf, len);
	snprintf(buf, len, "none");
	return buf;
}
