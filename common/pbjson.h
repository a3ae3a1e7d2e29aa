/*
 * pbjson - any protobuf-c message <-> JSON (jansson), by descriptor.
 *
 * Used by callctl to print what it taps or receives and to build requests
 * from JSON.  Field names are the .proto names; enums are their names;
 * bytes are base64; maps are objects; fields at their default value are
 * left out when printing.  Any thread.
 */
#ifndef PBJSON_H
#define PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A new JSON object for m (the caller owns the reference). */
json_t *pbjson_from_pb(const ProtobufCMessage *m);
/*
 * Build a message of type desc from a JSON object.  *outp is freed with
 * protobuf_c_message_free_unpacked(*outp, NULL).  Returns 0, or -1 with
 * the reason in err (unknown field, wrong type, bad enum name, ...).
 */
int pbjson_to_pb(const ProtobufCMessageDescriptor *desc, json_t *obj,
    ProtobufCMessage **outp, char *err, size_t errlen);

#endif
