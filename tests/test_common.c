/*
 * test_common.c -- CUnit suites for common/: page, codec, size, wire.
 *
 * One suite per module.  The wire suite is the contract of the one decoder
 * that sees peer bytes: every way a frame can be cut short, overlong,
 * malformed or inconsistent must be refused before anything trusts it.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cutest.h"

#include "codec.h"
#include "page.h"
#include "size.h"
#include "wire.h"

/* xorshift64: reproducible page contents without libc's rand state. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
page_random(uint8_t *p, uint64_t seed)
{
	uint64_t	v;
	size_t		i;

	for (i = 0; i < PAGE_SIZE_4K; i += sizeof v) {
		v = rng_next(&seed);
		memcpy(p + i, &v, sizeof v);
	}
}

/* Text-like: few distinct bytes, long repeats; compresses well. */
static void
page_text(uint8_t *p, uint64_t seed)
{
	static const char	words[] = "page pool daemon zsmalloc zram ";
	size_t			i;

	for (i = 0; i < PAGE_SIZE_4K; i++)
		p[i] = words[(i + seed % 7) % (sizeof words - 1)];
	memcpy(p, &seed, sizeof seed);
}

/* ---- codec ---- */

static void
codec_round_trip(const char *name)
{
	struct codec_spec	 spec;
	struct codec_ctx	*ctx;
	const char		*cause = NULL;
	uint8_t			 in[PAGE_SIZE_4K], out[PAGE_SIZE_4K];
	uint8_t			*buf;
	size_t			 cap, len;
	int			 kind;

	CU_ASSERT_FATAL(codec_parse(name, &spec, &cause) == 0);
	CU_ASSERT_FATAL((ctx = codec_ctx_new(&spec)) != NULL);
	cap = codec_bound(ctx, PAGE_SIZE_4K);
	CU_ASSERT(cap >= PAGE_SIZE_4K);
	CU_ASSERT_FATAL((buf = malloc(cap)) != NULL);

	for (kind = 0; kind < 3; kind++) {
		if (kind == 0)
			page_text(in, 42);
		else if (kind == 1)
			page_random(in, 42);
		else
			page_fill(in, 0);
		len = codec_compress(ctx, in, sizeof in, buf, cap);
		CU_ASSERT_FATAL(len > 0);
		if (kind != 1)
			CU_ASSERT(len < PAGE_SIZE_4K / 4);
		memset(out, 0x5a, sizeof out);
		CU_ASSERT(codec_decompress(ctx, buf, len, out, sizeof out) ==
		    0);
		CU_ASSERT(memcmp(in, out, sizeof in) == 0);

		/* A cut-off stream must not decompress to a whole page. */
		CU_ASSERT(codec_decompress(ctx, buf, len / 2, out,
		    sizeof out) == -1);
	}

	/* Random bytes cannot shrink: no room is "does not fit", not junk. */
	page_random(in, 7);
	CU_ASSERT(codec_compress(ctx, in, sizeof in, buf, PAGE_SIZE_4K / 2) ==
	    0);

	/* Garbage is refused, not decoded into something. */
	memset(buf, 0xff, 64);
	CU_ASSERT(codec_decompress(ctx, buf, 64, out, sizeof out) == -1);

	free(buf);
	codec_ctx_free(ctx);
}

static void
test_codec_lz4(void)
{
	codec_round_trip("lz4");
}

static void
test_codec_zstd(void)
{
	codec_round_trip("zstd");
	codec_round_trip("zstd:19");
	codec_round_trip("zstd:-3");
}

static void
test_codec_parse(void)
{
	static const char	*bad[] = {
		"", "LZ4", "gzip", "zstd:", "zstd:0", "zstd:23", "zstd:3x",
		"zstd:x", "lz4:1", "zstd:99999999999999999999",
	};
	struct codec_spec	 spec;
	const char		*cause;
	char			 buf[32];
	size_t			 i;

	CU_ASSERT(codec_parse("lz4", &spec, &cause) == 0);
	CU_ASSERT(spec.id == CODEC_LZ4 && spec.level == 1);
	CU_ASSERT_STRING_EQUAL(codec_format(&spec, buf, sizeof buf), "lz4");

	CU_ASSERT(codec_parse("zstd", &spec, &cause) == 0);
	CU_ASSERT(spec.id == CODEC_ZSTD &&
	    spec.level == CODEC_ZSTD_DEFAULT_LEVEL);
	CU_ASSERT_STRING_EQUAL(codec_format(&spec, buf, sizeof buf),
	    "zstd:3");

	CU_ASSERT(codec_parse("zstd:19", &spec, &cause) == 0);
	CU_ASSERT(spec.id == CODEC_ZSTD && spec.level == 19);
	CU_ASSERT(codec_parse("zstd:-5", &spec, &cause) == 0);
	CU_ASSERT(spec.level == -5);
	CU_ASSERT_STRING_EQUAL(codec_format(&spec, buf, sizeof buf),
	    "zstd:-5");

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		CU_ASSERT(codec_parse(bad[i], &spec, &cause) == -1);
		CU_ASSERT(cause != NULL);
	}
}

/* ---- size ---- */

static void
test_size_parse(void)
{
	static const struct {
		const char	*s;
		uint64_t	 v;
	} good[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "1k", 1024 },
		{ "1K", 1024 },
		{ "2KiB", 2048 },
		{ "2kb", 2048 },
		{ "512M", 512ull << 20 },
		{ "1.5G", 3ull << 29 },
		{ "0.5K", 512 },
		{ "3T", 3ull << 40 },
		{ "15E", 15ull << 60 },
	};
	static const char	*bad[] = {
		"", " 1", "-1", "+1", "abc", "1X", "1MM", "1Mx", "1.5",
		"0.1K", "16E", "1e30", "inf", "nan", "1 M", "M",
		"0x10", "1e3", "1e3K", "1.", ".5K", "1.K",
	};
	uint64_t		 v;
	const char		*cause;
	size_t			 i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		v = 1;
		CU_ASSERT(size_parse(good[i].s, &v, &cause) == 0);
		CU_ASSERT(v == good[i].v);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		CU_ASSERT(size_parse(bad[i], &v, &cause) == -1);
		CU_ASSERT(cause != NULL);
	}
	CU_ASSERT(size_parse(NULL, &v, &cause) == -1);
}

static void
test_size_format(void)
{
	static const struct {
		uint64_t	 v;
		const char	*s;
	} cases[] = {
		{ 0, "0" },
		{ 1023, "1023" },
		{ 1024, "1K" },
		{ 1536, "1.5K" },
		{ 4096, "4K" },
		{ 512ull << 20, "512M" },
		{ 3ull << 29, "1.5G" },
		{ (1ull << 30) - 1, "1G" },	/* rounds up into the next unit */
		{ 3ull << 40, "3T" },
		{ UINT64_MAX, "16E" },
	};
	char		 buf[SIZE_FORMAT_LEN];
	uint64_t	 v;
	const char	*cause;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CU_ASSERT_STRING_EQUAL(size_format(cases[i].v, buf,
		    sizeof buf), cases[i].s);

	/* What it prints for exact sizes parses back to the same number. */
	for (i = 0; i < sizeof cases / sizeof cases[0] - 1; i++) {
		if (cases[i].v == (1ull << 30) - 1)
			continue;
		size_format(cases[i].v, buf, sizeof buf);
		CU_ASSERT(size_parse(buf, &v, &cause) == 0);
		CU_ASSERT(v == cases[i].v);
	}
}

/* ---- wire ---- */

/* Encode f into a fresh buffer; the test fails at once if it cannot. */
static size_t
enc(const wire_frame *f, uint8_t **buf)
{
	size_t	n = wire_encode(f, buf);

	CU_ASSERT_FATAL(n > WIRE_HEADER_LEN);
	return n;
}

/* Decode a whole buffer: the result of wire_decode, and of wire_check. */
static int
dec(const uint8_t *buf, size_t len, int *checked)
{
	wire_frame	*f;
	const char	*cause = NULL;
	size_t		 used;
	int		 rv;

	*checked = 1;
	rv = wire_decode(buf, len, &f, &used, &cause);
	if (rv == 1) {
		CU_ASSERT(used == len);
		*checked = wire_check(f, &cause);
		if (*checked != 0)
			CU_ASSERT(cause != NULL);
		wire_free(f);
	} else if (rv < 0) {
		CU_ASSERT(cause != NULL);
		CU_ASSERT(f == NULL);
	}
	return rv;
}

static void
test_wire_round_trip(void)
{
	wire_frame		 f = ZPOOL__FRAME__INIT, *g;
	Zpool__LoadRequest	 l = ZPOOL__LOAD_REQUEST__INIT;
	uint64_t		 h[3] = { 1, UINT64_MAX, 1ull << 40 };
	uint32_t		 s[3] = { 0, 7, 255 };
	uint8_t			*buf;
	const char		*cause;
	size_t			 n, used;

	l.n_handles = l.n_slots = 3;
	l.handles = h;
	l.slots = s;
	f.id = 99;
	f.body_case = ZPOOL__FRAME__BODY_LOAD;
	f.load = &l;
	n = enc(&f, &buf);
	CU_ASSERT(wire_peek_len(buf) == n - WIRE_HEADER_LEN);

	CU_ASSERT_FATAL(wire_decode(buf, n, &g, &used, &cause) == 1);
	CU_ASSERT(used == n);
	CU_ASSERT(wire_check(g, &cause) == 0);
	CU_ASSERT(g->id == 99);
	CU_ASSERT_FATAL(g->body_case == ZPOOL__FRAME__BODY_LOAD);
	CU_ASSERT_FATAL(g->load->n_handles == 3 && g->load->n_slots == 3);
	CU_ASSERT(memcmp(g->load->handles, h, sizeof h) == 0);
	CU_ASSERT(memcmp(g->load->slots, s, sizeof s) == 0);
	CU_ASSERT_STRING_EQUAL(wire_body_name(g), "load");
	wire_free(g);
	free(buf);
}

static void
test_wire_short(void)
{
	wire_frame		 f = ZPOOL__FRAME__INIT, *g;
	Zpool__StatsRequest	 st = ZPOOL__STATS_REQUEST__INIT;
	uint8_t			*buf;
	const char		*cause;
	size_t			 n, used, i;

	f.id = 1;
	f.body_case = ZPOOL__FRAME__BODY_STATS;
	f.stats = &st;
	n = enc(&f, &buf);

	/* Every proper prefix asks for more, and says how much in all. */
	for (i = 0; i < n; i++) {
		CU_ASSERT(wire_decode(buf, i, &g, &used, &cause) == 0);
		CU_ASSERT(g == NULL);
		CU_ASSERT(used == (i < WIRE_HEADER_LEN ? WIRE_HEADER_LEN : n));
	}
	CU_ASSERT(wire_decode(buf, n, &g, &used, &cause) == 1);
	wire_free(g);
	free(buf);
}

static void
test_wire_oversized(void)
{
	uint8_t		 hdr[WIRE_HEADER_LEN + 8] = { 0 };
	wire_frame	 f = ZPOOL__FRAME__INIT, *g;
	Zpool__Hello	 h = ZPOOL__HELLO__INIT;
	char		*name;
	uint8_t		*buf, small[16];
	const char	*cause;
	size_t		 used;
	uint32_t	 len;

	/* Refused from the header alone, before the body is there. */
	len = WIRE_FRAME_MAX + 1;
	hdr[0] = len & 0xff;
	hdr[1] = (len >> 8) & 0xff;
	hdr[2] = (len >> 16) & 0xff;
	cause = NULL;
	CU_ASSERT(wire_decode(hdr, WIRE_HEADER_LEN, &g, &used, &cause) == -1);
	CU_ASSERT(cause != NULL);
	memset(hdr, 0xff, WIRE_HEADER_LEN);
	CU_ASSERT(wire_decode(hdr, sizeof hdr, &g, &used, &cause) == -1);

	/* Exactly the limit is still a frame (one that needs more bytes). */
	len = WIRE_FRAME_MAX;
	hdr[0] = len & 0xff;
	hdr[1] = (len >> 8) & 0xff;
	hdr[2] = (len >> 16) & 0xff;
	hdr[3] = 0;
	CU_ASSERT(wire_decode(hdr, sizeof hdr, &g, &used, &cause) == 0);
	CU_ASSERT(used == WIRE_HEADER_LEN + WIRE_FRAME_MAX);

	/* The encoder will not produce what the decoder refuses. */
	CU_ASSERT_FATAL((name = malloc(WIRE_FRAME_MAX + 1)) != NULL);
	memset(name, 'a', WIRE_FRAME_MAX);
	name[WIRE_FRAME_MAX] = '\0';
	h.name = name;
	f.body_case = ZPOOL__FRAME__BODY_HELLO;
	f.hello = &h;
	CU_ASSERT(wire_encode(&f, &buf) == 0);
	CU_ASSERT(buf == NULL);
	free(name);

	/* Nor write past a caller's buffer. */
	h.name = "a name longer than the sixteen bytes";
	CU_ASSERT(wire_encode_to(&f, small, sizeof small) == 0);
}

static void
test_wire_malformed(void)
{
	/* Length 6, then bytes that are no protobuf message. */
	static const uint8_t	junk[] = { 6, 0, 0, 0, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff };
	/* Field 2 (hello) announced with 100 bytes, 2 present. */
	static const uint8_t	cut[] = { 4, 0, 0, 0, 0x12, 100, 0x08, 0x01 };
	/* A zero-length frame. */
	static const uint8_t	empty[] = { 0, 0, 0, 0, 0x08, 0x01 };
	int			checked;

	CU_ASSERT(dec(junk, sizeof junk, &checked) == -1);
	CU_ASSERT(dec(cut, sizeof cut, &checked) == -1);
	CU_ASSERT(dec(empty, sizeof empty, &checked) == -1);
}

static void
test_wire_empty_body(void)
{
	wire_frame		 f = ZPOOL__FRAME__INIT;
	Zpool__StoreRequest	 s = ZPOOL__STORE_REQUEST__INIT;
	uint8_t			*buf;
	size_t			 n;
	int			 checked;

	/* An id and no body: a frame nobody can act on. */
	f.id = 5;
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == -1);
	free(buf);

	/* A store of nothing decodes, but is refused by the checks. */
	f.body_case = ZPOOL__FRAME__BODY_STORE;
	f.store = &s;
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == 1);
	CU_ASSERT(checked == -1);
	free(buf);
}

static void
test_wire_unequal(void)
{
	wire_frame		 f = ZPOOL__FRAME__INIT;
	Zpool__LoadRequest	 l = ZPOOL__LOAD_REQUEST__INIT;
	Zpool__StoreReply	 r = ZPOOL__STORE_REPLY__INIT;
	uint64_t		 h[3] = { 1, 2, 3 };
	uint32_t		 s[2] = { 0, 1 };
	int32_t			 e[2] = { 0, -2 };
	uint8_t			*buf;
	size_t			 n;
	int			 checked;

	l.n_handles = 3;
	l.handles = h;
	l.n_slots = 2;
	l.slots = s;
	f.body_case = ZPOOL__FRAME__BODY_LOAD;
	f.load = &l;
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == 1);
	CU_ASSERT(checked == -1);
	free(buf);

	r.n_handles = 3;
	r.handles = h;
	r.n_errors = 2;
	r.errors = e;
	f.body_case = ZPOOL__FRAME__BODY_STORE_REPLY;
	f.store_reply = &r;
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == 1);
	CU_ASSERT(checked == -1);
	free(buf);

	/* Equal again: accepted. */
	r.n_handles = 2;
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == 1);
	CU_ASSERT(checked == 0);
	free(buf);
}

static void
test_wire_batch(void)
{
	wire_frame		 f = ZPOOL__FRAME__INIT;
	Zpool__StoreRequest	 s = ZPOOL__STORE_REQUEST__INIT;
	Zpool__FreeRequest	 fr = ZPOOL__FREE_REQUEST__INIT;
	uint32_t		 slots[WIRE_BATCH_MAX + 1];
	uint64_t		 handles[WIRE_BATCH_MAX + 1];
	uint8_t			*buf;
	size_t			 n, i;
	int			 checked;

	for (i = 0; i <= WIRE_BATCH_MAX; i++) {
		slots[i] = (uint32_t)i;
		handles[i] = i + 1;
	}
	s.slots = slots;
	f.body_case = ZPOOL__FRAME__BODY_STORE;
	f.store = &s;

	s.n_slots = WIRE_BATCH_MAX;
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == 1);
	CU_ASSERT(checked == 0);
	free(buf);

	s.n_slots = WIRE_BATCH_MAX + 1;
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == 1);
	CU_ASSERT(checked == -1);
	free(buf);

	fr.handles = handles;
	fr.n_handles = WIRE_BATCH_MAX + 1;
	f.body_case = ZPOOL__FRAME__BODY_FREE;
	f.free = &fr;
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == 1);
	CU_ASSERT(checked == -1);
	free(buf);
}

static void
test_wire_strings(void)
{
	wire_frame		 f = ZPOOL__FRAME__INIT;
	Zpool__Hello		 h = ZPOOL__HELLO__INIT;
	Zpool__ErrorReply	 e = ZPOOL__ERROR_REPLY__INIT;
	char			 name[WIRE_NAME_MAX + 2];
	char			 msg[WIRE_MESSAGE_MAX + 2];
	uint8_t			*buf;
	size_t			 n;
	int			 checked;

	memset(name, 'n', sizeof name - 1);
	name[WIRE_NAME_MAX] = '\0';
	h.name = name;
	f.body_case = ZPOOL__FRAME__BODY_HELLO;
	f.hello = &h;
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == 1);
	CU_ASSERT(checked == 0);
	free(buf);

	name[WIRE_NAME_MAX] = 'n';
	name[WIRE_NAME_MAX + 1] = '\0';
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == 1);
	CU_ASSERT(checked == -1);
	free(buf);

	memset(msg, 'm', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	e.code = -22;
	e.message = msg;
	f.body_case = ZPOOL__FRAME__BODY_ERROR;
	f.error = &e;
	n = enc(&f, &buf);
	CU_ASSERT(dec(buf, n, &checked) == 1);
	CU_ASSERT(checked == -1);
	free(buf);
}

/* Frames back to back, as a socket delivers them, in arbitrary cuts. */
static void
test_wire_stream(void)
{
	wire_frame		 f = ZPOOL__FRAME__INIT, *g;
	Zpool__FreeRequest	 fr = ZPOOL__FREE_REQUEST__INIT;
	uint64_t		 h[2] = { 10, 20 };
	uint8_t			 stream[4096], *buf;
	const char		*cause;
	size_t			 len = 0, n, off, used, avail;
	uint64_t		 id;
	int			 rv;

	fr.n_handles = 2;
	fr.handles = h;
	f.body_case = ZPOOL__FRAME__BODY_FREE;
	f.free = &fr;
	for (id = 1; id <= 20; id++) {
		f.id = id;
		n = enc(&f, &buf);
		CU_ASSERT_FATAL(len + n <= sizeof stream);
		memcpy(stream + len, buf, n);
		len += n;
		free(buf);
	}
	/* Bytes arrive 7 at a time; frames come out in order. */
	off = 0;
	avail = 0;
	id = 1;
	while (off < len) {
		rv = wire_decode(stream + off, avail - off, &g, &used, &cause);
		CU_ASSERT_FATAL(rv >= 0);
		if (rv == 0) {
			CU_ASSERT(used > avail - off);
			avail = avail + 7 < len ? avail + 7 : len;
			continue;
		}
		CU_ASSERT(g->id == id);
		CU_ASSERT(wire_check(g, &cause) == 0);
		id++;
		off += used;
		wire_free(g);
	}
	CU_ASSERT(id == 21);
}

/* A Unix socket listening at path that never accepts. */
static int
listener(const char *path, int backlog)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	int			lfd;

	memcpy(sun.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_FATAL(bind(lfd, (struct sockaddr *)&sun, sizeof sun) == 0);
	CU_ASSERT_FATAL(listen(lfd, backlog) == 0);
	return lfd;
}

/*
 * Dialling: a listener answers, a missing one and an overlong path fail,
 * a full backlog times out.
 */
static void
test_wire_dial(void)
{
	char	dir[] = "/tmp/zp-dial-XXXXXX", path[300];
	time_t	t0;
	int	lfd, fd;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/s", dir);
	CU_ASSERT(wire_dial(path, 0) == -ENOENT);

	lfd = listener(path, 4);
	fd = wire_dial(path, 0);
	CU_ASSERT(fd >= 0);
	if (fd >= 0)
		close(fd);
	close(lfd);
	/* Bound but no longer listening: refused, not hung. */
	CU_ASSERT(wire_dial(path, 0) == -ECONNREFUSED);
	unlink(path);

	/* A backlog full after one: the next dial waits, until its timeout. */
	lfd = listener(path, 0);
	fd = wire_dial(path, 1);
	CU_ASSERT(fd >= 0);
	t0 = time(NULL);
	CU_ASSERT(wire_dial(path, 1) == -ETIMEDOUT);
	CU_ASSERT(time(NULL) - t0 <= 3);
	if (fd >= 0)
		close(fd);
	close(lfd);
	unlink(path);
	rmdir(dir);

	memset(path, 'p', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = '\0';
	CU_ASSERT(wire_dial(path, 0) == -ENAMETOOLONG);
}

/*
 * page_stream from every source alignment into an aligned slot between two
 * guard pages: the slot gets exactly the source's bytes, nothing beside it
 * is written.
 */
static void
test_page_stream(void)
{
	uint8_t		*buf, *src, *slot;
	uint64_t	 seed = 7;
	unsigned	 off, i;

	CU_ASSERT_FATAL(posix_memalign((void **)&buf, PAGE_SIZE_4K,
	    4 * PAGE_SIZE_4K) == 0);
	src = malloc(PAGE_SIZE_4K + 16);
	CU_ASSERT_FATAL(src != NULL);
	slot = buf + PAGE_SIZE_4K;
	for (off = 0; off < 16; off += 3) {
		for (i = 0; i < PAGE_SIZE_4K; i++)
			src[off + i] = (uint8_t)rng_next(&seed);
		memset(buf, 0xa5, 4 * PAGE_SIZE_4K);
		page_stream(slot, src + off);
		page_stream_fence();
		CU_ASSERT(memcmp(slot, src + off, PAGE_SIZE_4K) == 0);
		for (i = 0; i < PAGE_SIZE_4K; i++)
			if (buf[i] != 0xa5 || slot[PAGE_SIZE_4K + i] != 0xa5)
				break;
		CU_ASSERT(i == PAGE_SIZE_4K);
	}
	free(src);
	free(buf);
}

int
main(void)
{
	static const struct cu_case page[] = {
		{ "page_stream", test_page_stream },
		{ NULL, NULL }
	};
	static const struct cu_case codec[] = {
		{ "lz4 round trip", test_codec_lz4 },
		{ "zstd round trip", test_codec_zstd },
		{ "codec_parse", test_codec_parse },
		{ NULL, NULL }
	};
	static const struct cu_case size[] = {
		{ "size_parse", test_size_parse },
		{ "size_format", test_size_format },
		{ NULL, NULL }
	};
	static const struct cu_case wire[] = {
		{ "round trip", test_wire_round_trip },
		{ "short", test_wire_short },
		{ "oversized", test_wire_oversized },
		{ "malformed", test_wire_malformed },
		{ "empty body", test_wire_empty_body },
		{ "unequal arrays", test_wire_unequal },
		{ "batch limits", test_wire_batch },
		{ "string limits", test_wire_strings },
		{ "stream", test_wire_stream },
		{ "dial", test_wire_dial },
		{ NULL, NULL }
	};

	if (cu_suite("page", page) != 0)
		return 1;
	if (cu_suite("codec", codec) != 0)
		return 1;
	if (cu_suite("size", size) != 0)
		return 1;
	if (cu_suite("wire", wire) != 0)
		return 1;
	return cu_run();
}
