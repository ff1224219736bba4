/*
 * spin.h -- bounded busy polling before a thread goes to sleep.
 *
 * On a virtual machine a sleeping CPU halts, and waking it for a reply
 * costs far more than the reply: here a Unix-socket round trip between
 * two CPUs is 40-60 us when both sides sleep and about 6 us when both
 * poll (docs/performance.md).  So the daemon's loop, its workers and the
 * client library poll for a short while after their last piece of work
 * before they sleep.  Every turn yields the CPU, so a poller never keeps
 * a runnable thread off its CPU; the window is short and starts afresh
 * only when work arrives, so an idle daemon sleeps.
 */
#ifndef ZP_SPIN_H
#define ZP_SPIN_H

#include <stdbool.h>
#include <stdint.h>

/* Default window, in microseconds, of the daemon and of the library. */
#define SPIN_DEFAULT_US		50
/* Largest window accepted anywhere: longer only burns CPU. */
#define SPIN_MAX_US		10000

struct spin {
	uint64_t	deadline;	/* CLOCK_MONOTONIC, ns; 0: not polling */
};

/* Open a window of `us` microseconds from now (0: no window). */
void	spin_start(struct spin *, unsigned us);
/* True while the window is open; yields the CPU before it returns. */
bool	spin_again(struct spin *);

#endif
