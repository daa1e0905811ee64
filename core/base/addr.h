/* addr: socket addresses written as "HOST:PORT" ("127.0.0.1:4443", "[::1]:443", "localhost:4443").
 * IPv6 literals need brackets; the port must be numeric (0 means "any"); host names are resolved
 * with getaddrinfo (the first result wins). No global state. */
#ifndef MOQ_BASE_ADDR_H
#define MOQ_BASE_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Room addr_format needs for any address: "[" IPv6 "%" interface "]:" port, and the NUL. */
#define ADDR_FORMAT_MAX 80

/* Parses text into *out (and its length into *outlen when outlen is not NULL). Returns 0, or -1
 * with a message in err such as: expected HOST:PORT, got "x"; port out of range; unknown host. */
int addr_parse(const char *text, struct sockaddr_storage *out, socklen_t *outlen, char *err,
               size_t errlen);
/* Writes sa (AF_INET or AF_INET6) as "127.0.0.1:4443" or "[::1]:4443" into out (NUL-terminated).
 * Returns 0, or -1 for another family or when out is too small (then out holds ""). */
int addr_format(const struct sockaddr *sa, char *out, size_t outlen);

#endif
