/*
 * cfg - configuration from the environment, one table per service.
 *
 *	const struct cfg_opt edge_cfg[] = {
 *		{ "EDGE_HTTP_PORT", CFG_INT, CFG_OFF(struct edge_cfg, port),
 *		  "8080", "public HTTP port" },
 *		{ "EDGE_API_TOKEN", CFG_STR | CFG_SECRET, ..., NULL, "..." },
 *		{ NULL }
 *	};
 *
 * A NULL default means required.  Every secret FOO (and every CFG_FILE
 * option, such as a PEM certificate) may also be given as FOO_FILE (a
 * mounted Kubernetes secret; one trailing newline is stripped).
 * CFG_TLS options (the bus certificate, key and CA: BUS_TLS_CFG_OPTS in
 * bus.h) default to empty but become required as soon as any string
 * option of the same table holds a tls+tcp:// URL, so a daemon told to
 * speak TLS without its files refuses to start (and --check-config says
 * why).  cfg_load() checks every entry and logs every problem before it
 * fails, so a bad deployment fails once, with the full list.
 * This is the only file that calls getenv().  Start-up only.
 */
#ifndef CFG_H
#define CFG_H

#include <stddef.h>
#include <stdio.h>

#define CFG_STR 0x01
#define CFG_INT 0x02
#define CFG_BOOL 0x03
#define CFG_TYPE 0x0f
#define CFG_SECRET 0x10 /* redacted by --check-config; FOO_FILE */
#define CFG_FILE 0x20 /* may also come as FOO_FILE; not redacted */
#define CFG_TLS 0x40 /* required once any URL in the table is tls+tcp */

#define CFG_OFF(type, field) offsetof(type, field)

struct cfg_opt {
	const char *name;
	int         flags;
	size_t      off; /* char * for STR, long for INT, int for BOOL */
	const char *def; /* NULL: required */
	const char *help;
};

/* Load every option into cfg.  Returns 0, or -1 with each problem
 * logged.  Strings are xstrdup'ed and owned by cfg until cfg_free. */
int  cfg_load(const struct cfg_opt *, void *cfg);
void cfg_free(const struct cfg_opt *, void *cfg);
/* NAME=value lines, secrets as ***, then "configuration OK". */
void cfg_dump(const struct cfg_opt *, const void *cfg, FILE *);
/* Usage: every variable with its default and help. */
void cfg_help(
    const char *prog, const char *about, const struct cfg_opt *, FILE *);

/*
 * The common command line of every daemon: --help, --version and
 * --check-config.  Loads the configuration.  Returns -1 to go on running,
 * or the exit status to return from main at once.
 */
int cfg_main(int argc, char *argv[], const char *prog, const char *about,
    const struct cfg_opt *, void *cfg);

extern const char *const cfg_version;

#endif
