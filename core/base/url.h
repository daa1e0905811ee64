/* url: splits a relay URL (moql://host:port/path?query, https://..., http://...) into its parts. */
#ifndef MOQ_BASE_URL_H
#define MOQ_BASE_URL_H

#include <stddef.h>

typedef struct url {
  char scheme[16];  /* lowercase */
  char host[256];   /* without brackets */
  int port;         /* the given port, or the scheme's default (443; http: 80) */
  char path[1024];  /* "/..." (at least "/") */
  char query[2048]; /* without '?', or "" */
} url;

/* Parses text into u. Returns 0, or -1 with a message in err naming what is wrong. */
int url_parse(const char *text, url *u, char *err, size_t errlen);
/* Writes path + ("?" + query when there is one) into out. Returns 0, or -1 if it does not fit. */
int url_path_and_query(const url *u, char *out, size_t outlen);

#endif
