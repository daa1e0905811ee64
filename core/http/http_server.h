/* http_server: a small HTTP/1.1 server on a libuv TCP listener (http-parser does the parsing).
 * Keep-alive, pipelining, HEAD; bounded head, body, output and idle time per connection. One log
 * line per request (never the query). Upgrade requests can be handed over, socket and all, to the
 * owner (the WebSocket seam). Everything runs on the loop thread; no global state. libuv writes
 * with write(2), so the process must ignore SIGPIPE. */
#ifndef MOQ_HTTP_HTTP_SERVER_H
#define MOQ_HTTP_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct http_server http_server;

/* Limits; http_server_options_default() fills in the defaults shown. */
typedef struct http_server_options {
  size_t max_head;          /* request line + headers, bytes (16 KiB); beyond, or more than 64
                               headers: 431 and close */
  size_t max_body;          /* request body, read and discarded (64 KiB); beyond: 413 and close */
  size_t max_output;        /* queued response bytes per connection (1 MiB): parsing pauses above
                               half of it; a response going beyond it closes the connection */
  unsigned idle_timeout_ms; /* time to complete a request or make write progress (10000) */
  unsigned max_connections; /* open connections (1024); beyond: new ones are closed at once */
} http_server_options;

typedef struct http_header {
  const char *name;  /* borrowed: see the owning struct */
  const char *value; /* borrowed: see the owning struct */
} http_header;

/* A parsed request. Everything is borrowed from the connection and valid only during the
 * callback it is passed to. */
typedef struct http_request {
  const char *method;            /* "GET", "HEAD", ... (static strings) */
  const char *path;              /* raw path, not decoded, without '?' and query */
  const char *query;             /* raw query without '?', or "" */
  const http_header *headers;    /* header_count entries, names as sent */
  size_t header_count;
  const struct sockaddr *remote; /* peer address */
  const char *remote_str;        /* peer as "ip:port" or "[ip6]:port" */
  int http_major, http_minor;
  int keep_alive;                /* the client allows another request on this connection */
  size_t body_len;               /* bytes of body that were read and discarded */
} http_request;

#define HTTP_RESPONSE_EXTRA_MAX 1024

/* A response, filled in by on_request; the server presets status 200 and nothing else. */
typedef struct http_response {
  int status;               /* 200..999; anything else is answered 500 */
  const char *content_type; /* borrowed: must stay valid after on_request returns (a literal, or
                               owned by the caller); NULL for no Content-Type */
  const uint8_t *body;      /* borrowed unless body_owned; copied once on_request returns */
  size_t body_len;
  int body_owned;           /* 1: body came from malloc() and the server takes it (frees it) */
  int close;                /* 1: close the connection after this response */
  char extra[HTTP_RESPONSE_EXTRA_MAX]; /* owned: "Name: value\r\n" lines, written by
                                          http_response_add_header */
  size_t extra_len;
} http_response;

typedef struct http_server_callbacks {
  /* Fills resp for req (any method and path: 404/405 are the callee's to choose). Returns 0, or
   * negative to have the server answer 500 and close. For HEAD, and for 204/304, the server sends
   * no body; Content-Length always states body_len (omitted for 204). */
  int (*on_request)(void *user_data, const http_request *req, http_response *resp);
  /* Optional. Called for a request with "Connection: upgrade" and "Upgrade:", instead of
   * on_request. The server has stopped reading; extra[0..extra_len) are the bytes already read
   * after the request (borrowed, valid during the call). Returning 0 takes ownership of conn: it
   * was malloc()ed, conn->data is the callee's, and the callee must uv_close() it and free() it
   * in the close callback (http_server_free_detached does both). Returning non-zero leaves conn
   * with the server (the callee must not have touched it): negative, the server answers 400 and
   * closes; positive, on_request answers the request (a refusal that says why) and the connection
   * closes after it. */
  int (*on_upgrade)(void *user_data, const http_request *req, uv_tcp_t *conn, const uint8_t *extra,
                    size_t extra_len);
} http_server_callbacks;

/* Fills opts with the defaults. */
void http_server_options_default(http_server_options *opts);
/* Binds addr (SO_REUSEADDR; an IPv6 wildcard is dual-stack) and listens. cb is copied; user_data
 * is passed to it. Returns the server, or NULL with a message naming the address and the system
 * error in err[0..errlen). */
http_server *http_server_new(uv_loop_t *loop, const struct sockaddr *addr,
                             const http_server_callbacks *cb, void *user_data, char *err,
                             size_t errlen);
/* Replaces the limits (copied; max_head counts for connections accepted afterwards, the rest at
 * once). Returns 0, or -1 if a limit is unusable (max_head < 64, max_output < 1024, a zero). */
int http_server_set_options(http_server *srv, const http_server_options *opts);
/* Stores the bound address (e.g. the port picked for port 0) in *out. Returns 0 or negative. */
int http_server_local_addr(const http_server *srv, struct sockaddr_storage *out);
/* Closes the listener and every connection; once all their libuv handles are closed, frees srv
 * and calls done(arg) (never from inside this call). Handed-over connections are not included. */
void http_server_close(http_server *srv, void (*done)(void *arg), void *arg);

/* Copies "name: value\r\n" into resp->extra. Returns -1 if it does not fit, if name is empty or
 * holds ':', blanks, CR or LF, if value holds CR or LF, or if name is one the server writes
 * (Content-Length, Connection, Transfer-Encoding, Date, Content-Type). */
int http_response_add_header(http_response *resp, const char *name, const char *value);
/* Returns the value of the first header named name (case-insensitive), or NULL. */
const char *http_request_header(const http_request *req, const char *name);
/* Closes a handed-over connection and free()s it once closed. */
void http_server_free_detached(uv_tcp_t *conn);

#endif
