/*
 * pbjson_fuzz - JSON made into a bus envelope (common/pbjson.c), as
 * callctl builds a request from what its user types (`callctl req ...
 * --envelope JSON`).
 *
 * Input: JSON text.  pbjson_to_pb() must either refuse it with a reason
 * (and free whatever it had built: LeakSanitizer is on) or build an
 * envelope that packs, unpacks to the same bytes, and prints back to
 * JSON that reads into the same envelope again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus.pb-c.h"
#include "pbjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
broken(const char *what)
{
	fprintf(stderr, "fuzz: pbjson: %s\n", what);
	abort();
}

/* m packed; *lenp its length (malloc'd). */
static uint8_t *
pack(const ProtobufCMessage *m, size_t *lenp)
{
	size_t   n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n == 0 ? 1 : n);

	if (protobuf_c_message_pack(m, buf) != n)
		broken("pack wrote another length than it announced");
	*lenp = n;
	return (buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtobufCMessage *m = NULL, *again = NULL;
	Bus__Envelope    *un;
	json_t           *j, *printed;
	char              err[256] = "";
	uint8_t          *b1, *b2;
	size_t            n1, n2;

	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return (0);
	if (pbjson_to_pb(&bus__envelope__descriptor, j, &m, err, sizeof(err))
	    == -1) {
		if (err[0] == '\0')
			broken("refused without a reason");
		json_decref(j);
		return (0);
	}
	b1 = pack(m, &n1);
	if ((un = bus__envelope__unpack(NULL, n1, b1)) == NULL)
		broken("an envelope that does not unpack");
	b2 = pack(&un->base, &n2);
	if (n1 != n2 || memcmp(b1, b2, n1) != 0)
		broken("an envelope that changes when unpacked");
	printed = pbjson_from_pb(m);
	if (pbjson_to_pb(
	        &bus__envelope__descriptor, printed, &again, err, sizeof(err))
	    == -1) {
		fprintf(stderr, "fuzz: %s\n", err);
		broken("printed JSON that does not read back");
	}
	free(b2);
	b2 = pack(again, &n2);
	if (n1 != n2 || memcmp(b1, b2, n1) != 0)
		broken("an envelope that changes when printed and read back");
	free(b2);
	free(b1);
	protobuf_c_message_free_unpacked(again, NULL);
	json_decref(printed);
	bus__envelope__free_unpacked(un, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	json_decref(j);
	return (0);
}
