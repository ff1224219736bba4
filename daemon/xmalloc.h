/*
 * xmalloc.h -- allocation that cannot fail, for the daemon only.
 *
 * Running out of memory for the daemon's own bookkeeping (a client record,
 * a reply) leaves no sane way on, so these call fatal().  Memory a client
 * asks for (pages) goes through the pool, which returns ZP_ENOMEM instead;
 * the library never uses these.
 */
#ifndef ZP_XMALLOC_H
#define ZP_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t size);
void	*xcalloc(size_t nmemb, size_t size);
void	*xreallocarray(void *ptr, size_t nmemb, size_t size);
char	*xstrdup(const char *s);
int	 xasprintf(char **ret, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif /* ZP_XMALLOC_H */
