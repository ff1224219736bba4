/*
 * fuzz_seed.c -- write the seed corpus of fuzz_wire into a directory.
 *
 * One file per frame type, each a valid encoded frame, plus a stream of
 * several frames back to back and a few frames the checks refuse (so the
 * fuzzer starts on both sides of every limit).  Every frame is decoded
 * again before it is written: a seed that does not say what it claims is
 * an error, and the program exits 1.
 *
 * Usage: fuzz_seed DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static const char	*outdir;
static uint8_t		 stream[16384];
static size_t		 streamlen;

/* Encode f, verify that it decodes (and checks as `valid` says), write it. */
static int
seed(const char *name, const wire_frame *f, int valid)
{
	wire_frame	*g;
	const char	*cause = NULL;
	uint8_t		*buf;
	char		 path[1024];
	size_t		 n, used;
	FILE		*fp;
	int		 ok;

	if ((n = wire_encode(f, &buf)) == 0) {
		fprintf(stderr, "%s: cannot encode\n", name);
		return -1;
	}
	if (wire_decode(buf, n, &g, &used, &cause) != 1 || used != n) {
		fprintf(stderr, "%s: does not decode\n", name);
		free(buf);
		return -1;
	}
	ok = wire_check(g, &cause) == 0;
	wire_free(g);
	if (ok != valid) {
		fprintf(stderr, "%s: wire_check says %d\n", name, ok);
		free(buf);
		return -1;
	}
	if (valid && streamlen + n <= sizeof stream) {
		memcpy(stream + streamlen, buf, n);
		streamlen += n;
	}
	snprintf(path, sizeof path, "%s/%s", outdir, name);
	if ((fp = fopen(path, "wb")) == NULL ||
	    fwrite(buf, 1, n, fp) != n || fclose(fp) != 0) {
		perror(path);
		free(buf);
		return -1;
	}
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	wire_frame		 f = ZPOOL__FRAME__INIT;
	Zpool__Hello		 hello = ZPOOL__HELLO__INIT;
	Zpool__HelloReply	 hr = ZPOOL__HELLO_REPLY__INIT;
	Zpool__StoreRequest	 st = ZPOOL__STORE_REQUEST__INIT;
	Zpool__StoreReply	 sr = ZPOOL__STORE_REPLY__INIT;
	Zpool__LoadRequest	 ld = ZPOOL__LOAD_REQUEST__INIT;
	Zpool__LoadReply	 lr = ZPOOL__LOAD_REPLY__INIT;
	Zpool__FreeRequest	 fr = ZPOOL__FREE_REQUEST__INIT;
	Zpool__FreeReply	 frr = ZPOOL__FREE_REPLY__INIT;
	Zpool__StatsRequest	 sq = ZPOOL__STATS_REQUEST__INIT;
	Zpool__StatsReply	 sp = ZPOOL__STATS_REPLY__INIT;
	Zpool__PoolStats	 ps = ZPOOL__POOL_STATS__INIT;
	Zpool__ClientStats	 cs = ZPOOL__CLIENT_STATS__INIT;
	Zpool__BudgetRequest	 bq = ZPOOL__BUDGET_REQUEST__INIT;
	Zpool__LimitRequest	 lq = ZPOOL__LIMIT_REQUEST__INIT;
	Zpool__MergeRequest	 mq = ZPOOL__MERGE_REQUEST__INIT;
	Zpool__CompactRequest	 cq = ZPOOL__COMPACT_REQUEST__INIT;
	Zpool__ErrorReply	 er = ZPOOL__ERROR_REPLY__INIT;
	uint32_t		 slots[WIRE_BATCH_MAX + 1];
	uint64_t		 handles[WIRE_BATCH_MAX + 1];
	int32_t			 errors[WIRE_BATCH_MAX];
	char			 path[1024];
	FILE			*fp;
	unsigned		 i;
	int			 rv = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seed DIR\n");
		return 2;
	}
	outdir = argv[1];
	for (i = 0; i <= WIRE_BATCH_MAX; i++) {
		slots[i] = i;
		handles[i] = (uint64_t)i << 20 | 1;
		if (i < WIRE_BATCH_MAX)
			errors[i] = i % 5 == 0 ? -2 : 0;
	}

	f.id = 0;
	hello.version = 1;
	hello.name = "seed";
	hello.slots = 256;
	f.body_case = ZPOOL__FRAME__BODY_HELLO;
	f.hello = &hello;
	rv |= seed("hello", &f, 1);

	hr.version = 1;
	hr.client_id = 7;
	hr.max_batch = 256;
	hr.max_inflight = 64;
	f.body_case = ZPOOL__FRAME__BODY_HELLO_REPLY;
	f.hello_reply = &hr;
	rv |= seed("hello-reply", &f, 1);

	f.id = 1;
	st.n_slots = 64;
	st.slots = slots;
	f.body_case = ZPOOL__FRAME__BODY_STORE;
	f.store = &st;
	rv |= seed("store", &f, 1);
	st.n_slots = WIRE_BATCH_MAX + 1;
	rv |= seed("store-too-big", &f, 0);

	sr.n_handles = sr.n_errors = 64;
	sr.handles = handles;
	sr.errors = errors;
	f.body_case = ZPOOL__FRAME__BODY_STORE_REPLY;
	f.store_reply = &sr;
	rv |= seed("store-reply", &f, 1);

	f.id = 2;
	ld.n_handles = ld.n_slots = 16;
	ld.handles = handles;
	ld.slots = slots;
	f.body_case = ZPOOL__FRAME__BODY_LOAD;
	f.load = &ld;
	rv |= seed("load", &f, 1);
	ld.n_slots = 15;
	rv |= seed("load-unequal", &f, 0);

	lr.n_errors = 16;
	lr.errors = errors;
	f.body_case = ZPOOL__FRAME__BODY_LOAD_REPLY;
	f.load_reply = &lr;
	rv |= seed("load-reply", &f, 1);

	f.id = 3;
	fr.n_handles = 3;
	fr.handles = handles;
	f.body_case = ZPOOL__FRAME__BODY_FREE;
	f.free = &fr;
	rv |= seed("free", &f, 1);

	frr.n_errors = 3;
	frr.errors = errors;
	f.body_case = ZPOOL__FRAME__BODY_FREE_REPLY;
	f.free_reply = &frr;
	rv |= seed("free-reply", &f, 1);

	f.id = 4;
	sq.all_clients = 1;
	f.body_case = ZPOOL__FRAME__BODY_STATS;
	f.stats = &sq;
	rv |= seed("stats", &f, 1);

	ps.orig_data_size = 1 << 20;
	ps.compr_data_size = 1 << 18;
	ps.codec = "lz4";
	ps.dedup_mode = "inline";
	ps.dedup_scope = "uid";
	ps.workers = 2;
	cs.client_id = 7;
	cs.name = "seed";
	cs.pages_stored = 256;
	sp.pool = &ps;
	sp.self = &cs;
	f.body_case = ZPOOL__FRAME__BODY_STATS_REPLY;
	f.stats_reply = &sp;
	rv |= seed("stats-reply", &f, 1);

	f.id = 5;
	bq.set = 1;
	bq.budget_bytes = 1 << 30;
	f.body_case = ZPOOL__FRAME__BODY_BUDGET;
	f.budget = &bq;
	rv |= seed("budget", &f, 1);

	lq.client_id = 7;
	lq.limit_bytes = 1 << 24;
	f.body_case = ZPOOL__FRAME__BODY_LIMIT;
	f.limit = &lq;
	rv |= seed("limit", &f, 1);

	f.body_case = ZPOOL__FRAME__BODY_MERGE;
	f.merge = &mq;
	rv |= seed("merge", &f, 1);

	f.body_case = ZPOOL__FRAME__BODY_COMPACT;
	f.compact = &cq;
	rv |= seed("compact", &f, 1);

	er.code = -22;
	er.message = "batch larger than the limit";
	f.body_case = ZPOOL__FRAME__BODY_ERROR;
	f.error = &er;
	rv |= seed("error", &f, 1);

	snprintf(path, sizeof path, "%s/stream", outdir);
	if ((fp = fopen(path, "wb")) == NULL ||
	    fwrite(stream, 1, streamlen, fp) != streamlen || fclose(fp) != 0) {
		perror(path);
		rv = -1;
	}
	return rv == 0 ? 0 : 1;
}
