/* TEST-ONLY LD_PRELOAD shim for finch + pidgin-sipe; never part of sipe-setup.
 *
 * pidgin-sipe parses XML with SAX1 element callbacks in a handler marked
 * initialized = XML_SAX2_MAGIC. Some libxml2 builds (Debian 12 deb12u4..u6) then call
 * only the (empty) SAX2 callbacks, so SIPE parses nothing. This shim wraps
 * xmlSAXUserParseMemory: it runs the real parse while counting startElement
 * callbacks, and if none fired for such a handler it parses again in plain SAX1 mode
 * (initialized = 1). See ../shared/reference/tls-dsk.md §0.1; built by sax1_shim.py.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libxml/parser.h>

typedef int (*parse_fn)(xmlSAXHandlerPtr, void *, const char *, int);

static __thread startElementSAXFunc user_start;
static __thread unsigned long started;

static void counting_start(void *ctx, const xmlChar *name, const xmlChar **attrs)
{
	started++;
	user_start(ctx, name, attrs);
}

int xmlSAXUserParseMemory(xmlSAXHandlerPtr sax, void *user_data, const char *buffer, int size)
{
	static parse_fn real;
	if (!real)
		real = (parse_fn) dlsym(RTLD_NEXT, "xmlSAXUserParseMemory");
	/* Only a full SAX2-sized handler with SAX1 element callbacks and no SAX2 ones. */
	if (!sax || sax->initialized != XML_SAX2_MAGIC || !sax->startElement ||
	    sax->startElementNs || sax->endElementNs)
		return real(sax, user_data, buffer, size);

	xmlSAXHandler copy = *sax;
	startElementSAXFunc saved_start = user_start;
	unsigned long saved_count = started;
	user_start = sax->startElement;
	started = 0;
	copy.startElement = counting_start;
	int rc = real(&copy, user_data, buffer, size);
	if (started == 0) {       /* this libxml2 ignored the SAX1 callbacks: retry as SAX1 */
		copy = *sax;
		copy.initialized = 1;
		rc = real(&copy, user_data, buffer, size);
	}
	user_start = saved_start;
	started = saved_count;
	return rc;
}
