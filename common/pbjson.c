/*
 * pbjson - protobuf-c <-> JSON by reflection over the descriptors; see
 * pbjson.h.  Everything built by pbjson_to_pb is malloc'ed field by field
 * so protobuf_c_message_free_unpacked() with the default allocator frees
 * it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "pbjson.h"
#include "xmalloc.h"

#define FIELD(m, f) ((char *)(m) + (f)->offset)
#define QUANT(m, f) ((char *)(m) + (f)->quantifier_offset)

static json_t *
scalar_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return (json_integer(*(const int32_t *)p));
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return (json_integer(*(const uint32_t *)p));
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return (json_integer(*(const int64_t *)p));
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return (json_integer((json_int_t) * (const uint64_t *)p));
	case PROTOBUF_C_TYPE_FLOAT:
		return (json_real(*(const float *)p));
	case PROTOBUF_C_TYPE_DOUBLE:
		return (json_real(*(const double *)p));
	case PROTOBUF_C_TYPE_BOOL:
		return (json_boolean(*(const protobuf_c_boolean *)p));
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev;

		ev = protobuf_c_enum_descriptor_get_value(
		    f->descriptor, *(const int *)p);
		return (ev != NULL ? json_string(ev->name)
		                   : json_integer(*(const int *)p));
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return (json_string(s != NULL ? s : ""));
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		char                      *out;
		json_t                    *j;

		out = xmalloc(CODEC_B64_LEN(b->len));
		codec_b64_encode(b->data, b->len, out, CODEC_B64_LEN(b->len));
		j = json_string(out);
		free(out);
		return (j);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;

		return (sub != NULL ? pbjson_from_pb(sub) : json_null());
	}
	}
	return (json_null());
}

static size_t
type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return (8);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return (sizeof(void *));
	case PROTOBUF_C_TYPE_BYTES:
		return (sizeof(ProtobufCBinaryData));
	case PROTOBUF_C_TYPE_BOOL:
		return (sizeof(protobuf_c_boolean));
	default:
		return (4);
	}
}

/* Is a proto3 singular field at its default (and so left out)? */
static int
is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
	static const char zero[16];

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return (s == NULL || s[0] == '\0');
	}
	case PROTOBUF_C_TYPE_BYTES:
		return (((const ProtobufCBinaryData *)p)->len == 0);
	case PROTOBUF_C_TYPE_MESSAGE:
		return (*(void *const *)p == NULL);
	default:
		return (memcmp(p, zero, type_size(f->type)) == 0);
	}
}

static int
is_map_entry(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;

	return (f->type == PROTOBUF_C_TYPE_MESSAGE && d->n_fields == 2
	    && strcmp(d->fields[0].name, "key") == 0
	    && strcmp(d->fields[1].name, "value") == 0 && strlen(d->name) > 5
	    && strcmp(d->name + strlen(d->name) - 5, "Entry") == 0);
}

static json_t *
repeated_to_json(const ProtobufCFieldDescriptor *f, const void *m)
{
	size_t      n = *(const size_t *)QUANT(m, f), i;
	const char *arr = *(char *const *)FIELD(m, f);
	size_t      sz = type_size(f->type);
	json_t     *j;

	if (is_map_entry(f)) {
		const ProtobufCMessageDescriptor *d = f->descriptor;

		j = json_object();
		for (i = 0; i < n; i++) {
			const ProtobufCMessage *e = ((
			    ProtobufCMessage *const *)(const void *)arr)[i];
			const char *k = *(char *const *)((const char *)e
			    + d->fields[0].offset);

			json_object_set_new(j, k != NULL ? k : "",
			    scalar_to_json(&d->fields[1],
			        (const char *)e + d->fields[1].offset));
		}
		return (j);
	}
	j = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(j, scalar_to_json(f, arr + i * sz));
	return (j);
}

json_t *
pbjson_from_pb(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor   *f;
	json_t                           *obj = json_object();
	unsigned                          i;

	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (*(const size_t *)QUANT(m, f) > 0)
				json_object_set_new(
				    obj, f->name, repeated_to_json(f, m));
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)QUANT(m, f) != f->id)
				continue;
		} else if (is_default(f, FIELD(m, f)))
			continue;
		json_object_set_new(
		    obj, f->name, scalar_to_json(f, FIELD(m, f)));
	}
	return (obj);
}

static int
json_to_scalar(const ProtobufCFieldDescriptor *f, json_t *v, void *p,
    char *err, size_t errlen)
{
	json_int_t i = json_integer_value(v);

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(v))
			goto type;
		*(char **)p = xstrdup(json_string_value(v));
		return (0);
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = p;
		const char          *s = json_string_value(v);
		int                  n;

		if (s == NULL)
			goto type;
		b->data = xmalloc(CODEC_B64_DEC_MAX(strlen(s)) + 1);
		n = codec_b64_decode(
		    s, strlen(s), b->data, CODEC_B64_DEC_MAX(strlen(s)) + 1);
		if (n < 0) {
			snprintf(err, errlen, "%s: not base64", f->name);
			return (-1);
		}
		b->len = (size_t)n;
		return (0);
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			goto type;
		*(protobuf_c_boolean *)p = json_is_true(v);
		return (0);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_is_number(v))
			goto type;
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)p = (float)json_number_value(v);
		else
			*(double *)p = json_number_value(v);
		return (0);
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev = NULL;

		if (json_is_string(v))
			ev = protobuf_c_enum_descriptor_get_value_by_name(
			    f->descriptor, json_string_value(v));
		else if (json_is_integer(v))
			ev = protobuf_c_enum_descriptor_get_value(
			    f->descriptor, (int)i);
		if (ev == NULL) {
			snprintf(
			    err, errlen, "%s: unknown enum value", f->name);
			return (-1);
		}
		*(int *)p = ev->value;
		return (0);
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		if (!json_is_object(v))
			goto type;
		return (pbjson_to_pb(
		    f->descriptor, v, (ProtobufCMessage **)p, err, errlen));
	default:
		if (!json_is_integer(v))
			goto type;
		if (type_size(f->type) == 8)
			*(int64_t *)p = (int64_t)i;
		else
			*(int32_t *)p = (int32_t)i;
		return (0);
	}
type:
	snprintf(err, errlen, "%s: wrong JSON type", f->name);
	return (-1);
}

static int
json_to_map(const ProtobufCFieldDescriptor *f, json_t *v, void *m, char *err,
    size_t errlen)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	ProtobufCMessage                **arr;
	const char                       *k;
	json_t                           *val;
	size_t                            n = 0;

	if (!json_is_object(v)) {
		snprintf(err, errlen, "%s: expected an object", f->name);
		return (-1);
	}
	arr = xcalloc(json_object_size(v) + 1, sizeof(*arr));
	*(ProtobufCMessage ***)FIELD(m, f) = arr;
	json_object_foreach(v, k, val)
	{
		ProtobufCMessage *e = xcalloc(1, d->sizeof_message);

		d->message_init(e);
		arr[n++] = e;
		*(size_t *)QUANT(m, f) = n;
		*(char **)((char *)e + d->fields[0].offset) = xstrdup(k);
		if (json_to_scalar(&d->fields[1], val,
		        (char *)e + d->fields[1].offset, err, errlen)
		    == -1)
			return (-1);
	}
	return (0);
}

static int
json_to_field(const ProtobufCFieldDescriptor *f, json_t *v, void *m, char *err,
    size_t errlen)
{
	size_t sz = type_size(f->type), i;
	char  *arr;

	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			/* the members share one slot: a second would
			 * overwrite (and leak) the first */
			if (*(uint32_t *)QUANT(m, f) != 0) {
				snprintf(err, errlen,
				    "%s: another member of its oneof is "
				    "already set",
				    f->name);
				return (-1);
			}
			*(uint32_t *)QUANT(m, f) = f->id;
		}
		return (json_to_scalar(f, v, FIELD(m, f), err, errlen));
	}
	if (is_map_entry(f))
		return (json_to_map(f, v, m, err, errlen));
	if (!json_is_array(v)) {
		snprintf(err, errlen, "%s: expected an array", f->name);
		return (-1);
	}
	arr = xcalloc(json_array_size(v) + 1, sz);
	*(char **)FIELD(m, f) = arr;
	for (i = 0; i < json_array_size(v); i++) {
		*(size_t *)QUANT(m, f) = i + 1;
		if (json_to_scalar(
		        f, json_array_get(v, i), arr + i * sz, err, errlen)
		    == -1)
			return (-1);
	}
	return (0);
}

int
pbjson_to_pb(const ProtobufCMessageDescriptor *desc, json_t *obj,
    ProtobufCMessage **outp, char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *f;
	ProtobufCMessage               *m;
	const char                     *key;
	json_t                         *v;

	if (!json_is_object(obj)) {
		snprintf(
		    err, errlen, "%s: expected a JSON object", desc->name);
		return (-1);
	}
	m = xcalloc(1, desc->sizeof_message);
	desc->message_init(m);
	json_object_foreach(obj, key, v)
	{
		f = protobuf_c_message_descriptor_get_field_by_name(desc, key);
		if (f == NULL) {
			snprintf(err, errlen, "%s has no field \"%s\"",
			    desc->name, key);
			goto fail;
		}
		if (json_is_null(v))
			continue;
		if (json_to_field(f, v, m, err, errlen) == -1)
			goto fail;
	}
	*outp = m;
	return (0);
fail:
	protobuf_c_message_free_unpacked(m, NULL);
	return (-1);
}
