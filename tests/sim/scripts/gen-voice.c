/*
 * gen-voice - writes the simulated caller's voice clip (voice.h) for the
 * demo:  gen-voice OUT.wav [MS]   (MS defaults to 950).
 *
 * Built by scripts/demo.sh with the system compiler; the end-to-end tests
 * call voice_write_wav() themselves.
 */
#include <errno.h>
#include <stdlib.h>

#include "voice.h"

int
main(int argc, char *argv[])
{
	int ms = 950;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: gen-voice OUT.wav [MS]\n");
		return (2);
	}
	if (argc == 3
	    && ((ms = (int)strtol(argv[2], NULL, 10)) < 100 || ms > 10000)) {
		fprintf(stderr, "gen-voice: MS must be 100..10000\n");
		return (2);
	}
	if (voice_write_wav(argv[1], ms) == -1) {
		fprintf(stderr, "gen-voice: %s: %s\n", argv[1],
		    strerror(errno != 0 ? errno : EINVAL));
		return (1);
	}
	return (0);
}
