/*
 * spin.c -- the polling window of spin.h.
 */
#include <sched.h>
#include <time.h>

#include "spin.h"

static uint64_t
spin_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
spin_start(struct spin *s, unsigned us)
{
	s->deadline = us == 0 ? 0 : spin_now() + (uint64_t)us * 1000u;
}

bool
spin_again(struct spin *s)
{
	if (s->deadline == 0)
		return false;
	if (spin_now() >= s->deadline) {
		s->deadline = 0;
		return false;
	}
	sched_yield();
	return true;
}
