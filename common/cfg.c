/*
 * cfg - configuration from the environment; see cfg.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "cfg.h"
#include "log.h"
#include "xmalloc.h"

#ifndef BRIDGE_VERSION
#define BRIDGE_VERSION "0.1.0"
#endif

const char *const cfg_version = BRIDGE_VERSION;

#define CFG_FILE_MAX (64 * 1024)

/* Read a secret file; NULL (logged) on error. */
static char *
read_file(const char *name, const char *path)
{
	FILE  *f;
	char  *buf;
	size_t n;

	if ((f = fopen(path, "r")) == NULL) {
		log_warn("%s_FILE: cannot open %s", name, path);
		return (NULL);
	}
	buf = xmalloc(CFG_FILE_MAX + 1);
	n = fread(buf, 1, CFG_FILE_MAX + 1, f);
	fclose(f);
	if (n > CFG_FILE_MAX) {
		log_warnx("%s_FILE: %s is larger than %d bytes", name, path,
		    CFG_FILE_MAX);
		free(buf);
		return (NULL);
	}
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return (buf);
}

/* The raw value of one option: env, NAME_FILE, default.  *srcp says which.
 * Returns an allocated string, or NULL when unset and required. */
static char *
raw_value(const struct cfg_opt *o, bool *bad)
{
	char        fname[256];
	const char *v, *fv;

	v = getenv(o->name);
	snprintf(fname, sizeof(fname), "%s_FILE", o->name);
	fv = (o->flags & (CFG_SECRET | CFG_FILE)) ? getenv(fname) : NULL;
	if (v != NULL && fv != NULL) {
		log_warnx("config: set %s or %s, not both", o->name, fname);
		*bad = true;
		return (NULL);
	}
	if (fv != NULL) {
		char *s = read_file(o->name, fv);

		if (s == NULL)
			*bad = true;
		return (s);
	}
	if (v != NULL)
		return (xstrdup(v));
	return (o->def != NULL ? xstrdup(o->def) : NULL);
}

static int
parse_bool(const char *s, int *out)
{
	if (strcasecmp(s, "1") == 0 || strcasecmp(s, "true") == 0
	    || strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0)
		*out = 1;
	else if (strcasecmp(s, "0") == 0 || strcasecmp(s, "false") == 0
	    || strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0
	    || s[0] == '\0')
		*out = 0;
	else
		return (-1);
	return (0);
}

static int
load_one(const struct cfg_opt *o, char *base)
{
	char *v, *end;
	bool  bad = false;
	long  l;
	int   b;

	if ((v = raw_value(o, &bad)) == NULL) {
		if (!bad)
			log_warnx("config: %s is required%s", o->name,
			    (o->flags & (CFG_SECRET | CFG_FILE))
			        ? " (or give it as a file in ..._FILE)"
			        : "");
		return (-1);
	}
	switch (o->flags & CFG_TYPE) {
	case CFG_STR:
		*(char **)(base + o->off) = v;
		return (0);
	case CFG_INT:
		errno = 0;
		l = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0') {
			log_warnx("config: %s: not a whole number", o->name);
			free(v);
			return (-1);
		}
		*(long *)(base + o->off) = l;
		break;
	case CFG_BOOL:
		if (parse_bool(v, &b) == -1) {
			log_warnx("config: %s: use true or false", o->name);
			free(v);
			return (-1);
		}
		*(int *)(base + o->off) = b;
		break;
	default:
		fatalx("config: %s: bad option type", o->name);
	}
	free(v);
	return (0);
}

/* Does this value (one URL or a comma-separated list) use NNG's TLS
 * transport?  tls+tcp://, tls+tcp4:// and tls+tcp6:// all start so. */
static bool
has_tls_url(const char *v)
{
	const char *p;

	for (p = v; p != NULL && *p != '\0'; p = strchr(p, ',')) {
		p += strspn(p, ", \t");
		if (strncmp(p, "tls+tcp", 7) == 0)
			return (true);
	}
	return (false);
}

/* CFG_TLS options are required once any plain string option (a bus URL)
 * uses tls+tcp: name the URL so the operator sees why. */
static int
tls_check(const struct cfg_opt *opts, const char *base)
{
	const struct cfg_opt *o, *why = NULL;
	const char           *v;
	int                   rv = 0;

	for (o = opts; o->name != NULL && why == NULL; o++) {
		if ((o->flags & CFG_TYPE) != CFG_STR
		    || (o->flags & (CFG_SECRET | CFG_TLS)) != 0)
			continue;
		v = *(char *const *)(base + o->off);
		if (v != NULL && has_tls_url(v))
			why = o;
	}
	if (why == NULL)
		return (0);
	for (o = opts; o->name != NULL; o++) {
		if (!(o->flags & CFG_TLS) || (o->flags & CFG_TYPE) != CFG_STR)
			continue;
		v = *(char *const *)(base + o->off);
		if (v == NULL || v[0] == '\0') {
			log_warnx(
			    "config: %s (or %s_FILE) is required: %s uses "
			    "tls+tcp://",
			    o->name, o->name, why->name);
			rv = -1;
		}
	}
	return (rv);
}

int
cfg_load(const struct cfg_opt *opts, void *cfg)
{
	const struct cfg_opt *o;
	int                   rv = 0;

	for (o = opts; o->name != NULL; o++)
		if (load_one(o, cfg) == -1)
			rv = -1;
	if (tls_check(opts, cfg) == -1)
		rv = -1;
	return (rv);
}

void
cfg_free(const struct cfg_opt *opts, void *cfg)
{
	const struct cfg_opt *o;
	char                 *base = cfg;

	for (o = opts; o->name != NULL; o++) {
		if ((o->flags & CFG_TYPE) == CFG_STR) {
			free(*(char **)(base + o->off));
			*(char **)(base + o->off) = NULL;
		}
	}
}

void
cfg_dump(const struct cfg_opt *opts, const void *cfg, FILE *fp)
{
	const struct cfg_opt *o;
	const char           *base = cfg;

	for (o = opts; o->name != NULL; o++) {
		switch (o->flags & CFG_TYPE) {
		case CFG_STR: {
			const char *s = *(char *const *)(base + o->off);

			if (o->flags & CFG_SECRET)
				fprintf(fp, "%s=%s\n", o->name,
				    s != NULL && s[0] != '\0' ? "***" : "");
			else if (s != NULL && strchr(s, '\n') != NULL)
				/* PEM: one line, not the whole file */
				fprintf(fp, "%s=%.*s... (%zu bytes)\n",
				    o->name, (int)strcspn(s, "\n"), s,
				    strlen(s));
			else
				fprintf(fp, "%s=%s\n", o->name,
				    s != NULL ? s : "");
			break;
		}
		case CFG_INT:
			fprintf(fp, "%s=%ld\n", o->name,
			    *(const long *)(base + o->off));
			break;
		case CFG_BOOL:
			fprintf(fp, "%s=%s\n", o->name,
			    *(const int *)(base + o->off) ? "true" : "false");
			break;
		}
	}
	fprintf(fp, "configuration OK\n");
}

void
cfg_help(
    const char *prog, const char *about, const struct cfg_opt *opts, FILE *fp)
{
	const struct cfg_opt *o;

	fprintf(fp,
	    "usage: %s [--help | --version | --check-config]\n\n%s\n\n"
	    "Configuration comes from the environment only:\n\n",
	    prog, about);
	for (o = opts; o->name != NULL; o++) {
		fprintf(fp, "  %-28s %s\n", o->name, o->help);
		if (o->def == NULL)
			fprintf(fp, "  %-28s (required)", "");
		else if (o->def[0] == '\0')
			fprintf(fp, "  %-28s default: (empty)", "");
		else
			fprintf(fp, "  %-28s default: %s", "", o->def);
		fprintf(fp, "\n");
		if (o->flags & CFG_SECRET)
			fprintf(fp,
			    "  %-28s secret: or read it from the file "
			    "named by %s_FILE\n",
			    "", o->name);
		else if (o->flags & CFG_FILE)
			fprintf(fp,
			    "  %-28s file: or read it from the file "
			    "named by %s_FILE\n",
			    "", o->name);
	}
}

int
cfg_main(int argc, char *argv[], const char *prog, const char *about,
    const struct cfg_opt *opts, void *cfg)
{
	bool check = false;

	if (argc > 2) {
		cfg_help(prog, about, opts, stderr);
		return (EX_USAGE);
	}
	if (argc == 2) {
		if (strcmp(argv[1], "--help") == 0
		    || strcmp(argv[1], "-h") == 0) {
			cfg_help(prog, about, opts, stdout);
			return (0);
		}
		if (strcmp(argv[1], "--version") == 0) {
			printf("%s %s\n", prog, cfg_version);
			return (0);
		}
		if (strcmp(argv[1], "--check-config") != 0) {
			cfg_help(prog, about, opts, stderr);
			return (EX_USAGE);
		}
		check = true;
	}
	if (cfg_load(opts, cfg) == -1) {
		log_errorx("configuration has errors; see the lines above");
		cfg_free(opts, cfg);
		return (EX_CONFIG);
	}
	if (check) {
		cfg_dump(opts, cfg, stdout);
		cfg_free(opts, cfg);
		return (0);
	}
	return (-1);
}
