/*
 * proxy.c - the client's address behind trusted reverse proxies.
 *
 * TRUSTED_PROXIES is a list of CIDRs (IPv4 or IPv6, "10.0.0.0/8,
 * ::1/128"; empty: none).  A request whose peer is not in the list is
 * from its peer, whatever it says.  From a trusted peer, X-Forwarded-For
 * is read from the right (each proxy appends the address it saw) and
 * the first address that is not a trusted proxy is the client: entries
 * further left were written by the client itself and are not believed.
 * When every entry is trusted the leftmost is the client.  An entry that
 * is not an address makes the header unusable: the request is refused
 * (bad input), since the client cannot be known.  IPv4-mapped IPv6
 * addresses count as IPv4.
 *
 * Pure functions, any thread; proxy_wsi_client reads the request's
 * headers on the lws service thread.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "log.h"

/* addr as 16 bytes (IPv4 mapped), *v4 set for IPv4; -1 if not one. */
static int
addr_parse(const char *s, unsigned char out[16], bool *v4)
{
	static const unsigned char mapped[12]
	    = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct in_addr a4;

	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memcpy(out, mapped, 12);
		memcpy(out + 12, &a4, 4);
		*v4 = true;
		return (0);
	}
	if (inet_pton(AF_INET6, s, out) != 1)
		return (-1);
	*v4 = memcmp(out, mapped, 12) == 0;
	return (0);
}

int
proxy_parse(const char *list, struct proxies *p)
{
	char buf[512], *tok, *save, *slash;
	long bits;
	bool v4;
	int  rv = 0;

	memset(p, 0, sizeof(*p));
	if (list == NULL || strlen(list) >= sizeof(buf))
		return (list == NULL ? 0 : -1);
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ", ", &save); tok != NULL;
	     tok = strtok_r(NULL, ", ", &save)) {
		struct proxy_net *n = &p->nets[p->n];

		if (p->n == PROXY_MAX) {
			log_errorx("TRUSTED_PROXIES: more than %d networks",
			    PROXY_MAX);
			return (-1);
		}
		if ((slash = strchr(tok, '/')) != NULL)
			*slash++ = '\0';
		bits = slash != NULL ? strtol(slash, NULL, 10) : -1;
		if (addr_parse(tok, n->addr, &v4) == -1
		    || (slash != NULL
		        && (strspn(slash, "0123456789") != strlen(slash)
		            || *slash == '\0' || bits > (v4 ? 32 : 128)))) {
			log_errorx("TRUSTED_PROXIES: \"%s\" is not an address "
			           "or CIDR",
			    tok);
			rv = -1;
			continue;
		}
		n->bits
		    = bits < 0 ? 128 : (int)bits + (v4 && bits >= 0 ? 96 : 0);
		p->n++;
	}
	return (rv);
}

static bool
in_net(const struct proxy_net *n, const unsigned char a[16])
{
	int full = n->bits / 8, rest = n->bits % 8;

	if (memcmp(n->addr, a, (size_t)full) != 0)
		return (false);
	return (rest == 0
	    || ((n->addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0);
}

bool
proxy_trusted(const struct proxies *p, const char *addr)
{
	unsigned char a[16];
	bool          v4;
	int           i;

	if (addr_parse(addr, a, &v4) == -1)
		return (false);
	for (i = 0; i < p->n; i++)
		if (in_net(&p->nets[i], a))
			return (true);
	return (false);
}

int
proxy_client(const struct proxies *p, const char *peer, const char *xff,
    char *out, size_t len)
{
	char          buf[1024], *end, *start;
	unsigned char a[16];
	bool          v4;

	snprintf(out, len, "%s", peer);
	if (!proxy_trusted(p, peer) || xff == NULL || xff[0] == '\0')
		return (0);
	if (strlen(xff) >= sizeof(buf))
		return (-1);
	snprintf(buf, sizeof(buf), "%s", xff);
	for (end = buf + strlen(buf);;) {
		while (end > buf && (end[-1] == ' ' || end[-1] == ','))
			*--end = '\0';
		if (end == buf)
			return (0); /* every entry trusted: out is the last */
		for (start = end;
		     start > buf && start[-1] != ',' && start[-1] != ' ';
		     start--)
			;
		if (addr_parse(start, a, &v4) == -1)
			return (-1);
		snprintf(out, len, "%s", start);
		if (!proxy_trusted(p, start))
			return (0);
		end = start;
	}
}

/*
 * The client of a request on wsi: its TCP peer, or behind TRUSTED_PROXIES
 * the address X-Forwarded-For names.  -1 (out is the peer) when a trusted
 * proxy sent a header that is malformed or too long to read.
 */
int
proxy_wsi_client(
    const struct proxies *p, struct lws *wsi, char *out, size_t len)
{
	char peer[64], xff[1024];
	int  n;

	peer[0] = '\0';
	(void)lws_get_peer_simple(wsi, peer, sizeof(peer));
	n = lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR);
	if (proxy_client(p, peer, n > 0 ? xff : NULL, out, len) == -1
	    || (n < 0 && proxy_trusted(p, peer))) {
		snprintf(out, len, "%s", peer);
		return (-1);
	}
	return (0);
}
