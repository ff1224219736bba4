/*
 * fuzz_wire.c -- libFuzzer target for the frame decoder (common/wire.c).
 *
 * The input is a byte stream as a peer would send it; the target takes
 * frames off its front with wire_decode() and wire_check() the way the
 * daemon's read loop does, until the stream ends or is refused.  Besides
 * the sanitizers' verdict it checks the decoder's own promises:
 *   - a whole frame is not "whole" one byte earlier (it asks for more, and
 *     for exactly the length it later consumes);
 *   - nothing is decoded past WIRE_FRAME_MAX;
 *   - a frame that decodes re-encodes to one that decodes to the same
 *     frame (same id, body, verdict of wire_check, and bytes).
 * Violations trap, which libFuzzer reports as a crash with the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)	do { if (!(c)) __builtin_trap(); } while (0)

/*
 * Unknown fields are kept by protobuf-c and packed back as they came, and
 * it unpacks some it would refuse to unpack once repacked (an overlong
 * varint tag of field 0).  The frames the daemon acts on never carry them
 * back, so the round trip is checked only for frames without any.
 */
static int
fuzz_has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor	*d = m->descriptor;
	const ProtobufCFieldDescriptor		*fd;
	const char				*base = (const char *)m;
	ProtobufCMessage * const		*sub;
	size_t					 n, k;
	unsigned				 i;

	if (m->n_unknown_fields > 0)
		return 1;
	for (i = 0; i < d->n_fields; i++) {
		fd = &d->fields[i];
		if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		sub = (ProtobufCMessage * const *)(base + fd->offset);
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + fd->quantifier_offset);
			sub = *(ProtobufCMessage * const * const *)sub;
			for (k = 0; k < n; k++)
				if (fuzz_has_unknown(sub[k]))
					return 1;
			continue;
		}
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + fd->quantifier_offset) !=
		    fd->id)
			continue;
		if (*sub != NULL && fuzz_has_unknown(*sub))
			return 1;
	}
	return 0;
}

static void
fuzz_reencode(const wire_frame *f)
{
	wire_frame	*g;
	uint8_t		*a, *b;
	const char	*cause;
	size_t		 na, nb, used;

	if (fuzz_has_unknown(&f->base))
		return;
	/* Re-encoding may need more bytes than the input had; then skip. */
	if ((na = wire_encode(f, &a)) == 0)
		return;
	FUZZ_ASSERT(wire_decode(a, na, &g, &used, &cause) == 1);
	FUZZ_ASSERT(used == na);
	FUZZ_ASSERT(g->id == f->id && g->body_case == f->body_case);
	FUZZ_ASSERT(wire_check(g, &cause) == wire_check(f, &cause));
	nb = wire_encode(g, &b);
	FUZZ_ASSERT(nb == na && memcmp(a, b, na) == 0);
	free(b);
	wire_free(g);
	free(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wire_frame	*f, *g;
	const char	*cause;
	size_t		 off = 0, used, want;
	int		 rv;

	while (off < size) {
		cause = NULL;
		rv = wire_decode(data + off, size - off, &f, &used, &cause);
		if (rv < 0) {
			FUZZ_ASSERT(f == NULL && cause != NULL);
			break;
		}
		if (rv == 0) {
			FUZZ_ASSERT(f == NULL && used > size - off);
			break;
		}
		FUZZ_ASSERT(used > WIRE_HEADER_LEN &&
		    used <= WIRE_HEADER_LEN + WIRE_FRAME_MAX &&
		    used <= size - off);
		cause = NULL;
		if (wire_check(f, &cause) != 0)
			FUZZ_ASSERT(cause != NULL);
		(void)wire_body_name(f);
		fuzz_reencode(f);
		wire_free(f);

		/* One byte short, the same frame asks for exactly the rest. */
		FUZZ_ASSERT(wire_decode(data + off, used - 1, &g, &want,
		    &cause) == 0 && g == NULL && want == used);
		off += used;
	}
	return 0;
}
