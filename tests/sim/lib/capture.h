/*
 * capture.h - full copies of what the bridge sends to a simulator, for
 * the conformance test (tests/conformance/README.md).
 *
 * Off unless SIM_CAPTURE_DIR names a directory.  Then each simulator
 * process appends to $SIM_CAPTURE_DIR/<svc>.<pid>.jsonl one line
 *	{"api":"openai-realtime","kind":"session.update","body":{...}}
 * per distinct shape of message (kind, plus every key path with its
 * JSON type, plus the discriminating "type" values), at most
 * CAPTURE_MAX lines per process.  Strings longer than 64 bytes are cut
 * (audio, instructions, transcripts): the shape is what is checked.
 * Only tests that reach the simulators through the daemons set it, so
 * what is captured is what the daemons send.
 *
 * Thread-safe (one mutex); never fails the caller.
 */
#ifndef SIM_CAPTURE_H
#define SIM_CAPTURE_H

#include <jansson.h>

#define CAPTURE_MAX 200

/* Records body (not stolen) under api and kind if its shape is new. */
void capture_json(
    const char *svc, const char *api, const char *kind, json_t *body);

#endif /* SIM_CAPTURE_H */
