/*
 * Batched UDP I/O for the DNS server (src/dns/udpbatch.ts): recvmmsg/sendmmsg on a UDP socket
 * that node's dgram module bound, driven from node's event loop.
 *
 * Why: node's dgram makes one recvmsg, one sendmsg and one C++ -> JS call per datagram; on the
 * DNS hot path those system calls were most of the server's time (src/dns/README.md, "Where a
 * query's microseconds go"). Here one wake-up reads up to `batch` datagrams with one recvmmsg,
 * calls JS once with their count, and sends every reply JS wrote with one sendmmsg, as Knot DNS
 * does.
 *
 * Memory is shared with JS, never copied across the boundary:
 *   in    batch slots of `slot` bytes: datagram i at i * slot
 *   addr  batch slots of ADDR_BYTES: the sender of datagram i (a struct sockaddr_in or _in6)
 *   out   the replies, anywhere in it
 *   meta  Int32Array, META_INTS per datagram: [length in, reply offset, reply length (0: none),
 *         1 when the datagram was longer than a slot (MSG_TRUNC)]
 *
 * Replies that cannot be sent now (EAGAIN: the socket's send buffer is full) are copied into a
 * queue, reading stops, and the queue is flushed when the socket is writable again: the kernel's
 * receive buffer then holds (or drops) what comes in, which is the back-pressure UDP has.
 * Errors of one datagram (EPERM from a firewall, EINVAL for an address) drop that reply only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <node_api.h>
#include <uv.h>

#define MAX_BATCH 256
#define ADDR_BYTES 28 /* sizeof(struct sockaddr_in6): the largest sender address */
#define META_INTS 4
/* Batches read per wake-up before going back to the event loop (timers, TCP, the API). */
#define MAX_ROUNDS 8
/* Bytes of replies queued behind a full send buffer; past it new replies are dropped (UDP may lose them). */
#define MAX_QUEUED_BYTES (4 << 20)

typedef struct queued {
  struct queued *next;
  struct sockaddr_in6 addr;
  socklen_t addr_len;
  size_t len;
  unsigned char data[];
} queued;

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int events; /* what the poll watches now: re-arming it costs an epoll_ctl, so only on a change */
  int closed;
  int in_callback;
  int batch;
  size_t slot;
  unsigned char *in;
  unsigned char *addr;
  unsigned char *out;
  size_t out_len;
  int32_t *meta;
  napi_ref refs[5]; /* callback, in, addr, out, meta */
  napi_async_context async;
  queued *head, *tail;
  size_t queued_bytes;
  double sent, dropped, received;
  struct mmsghdr rmsg[MAX_BATCH];
  struct iovec riov[MAX_BATCH];
  struct mmsghdr smsg[MAX_BATCH];
  struct iovec siov[MAX_BATCH];
} batcher;

static void on_poll(uv_poll_t *poll, int status, int events);

static napi_value throw_error(napi_env env, const char *msg) {
  napi_throw_error(env, "UDP_BATCH", msg);
  return NULL;
}

static int buffer_arg(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  size_t count, offset;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &count, data, &ab, &offset) != napi_ok) return 0;
  size_t size = type == napi_int32_array || type == napi_uint32_array ? 4 : type == napi_uint8_array || type == napi_int8_array || type == napi_uint8_clamped_array ? 1 : 0;
  if (size == 0) return 0;
  *len = count * size;
  return 1;
}

static batcher *handle_arg(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return (batcher *)p;
}

static void start_poll(batcher *b) {
  int want = b->head ? UV_WRITABLE : UV_READABLE;
  if (want == b->events) return;
  b->events = want;
  uv_poll_start(&b->poll, want, on_poll);
}

static void enqueue(batcher *b, const void *addr, socklen_t addr_len, const void *data, size_t len) {
  if (b->queued_bytes + len > MAX_QUEUED_BYTES || addr_len > sizeof(struct sockaddr_in6)) {
    b->dropped++;
    return;
  }
  queued *q = malloc(sizeof(queued) + len);
  if (!q) {
    b->dropped++;
    return;
  }
  q->next = NULL;
  memcpy(&q->addr, addr, addr_len);
  q->addr_len = addr_len;
  q->len = len;
  memcpy(q->data, data, len);
  if (b->tail) b->tail->next = q;
  else b->head = q;
  b->tail = q;
  b->queued_bytes += len;
}

/* Sends msg[0, n) with as few sendmmsg calls as the kernel allows; returns how many were handled
 * (sent or dropped for their own error). Stops at EAGAIN. */
static int send_some(batcher *b, struct mmsghdr *msg, int n) {
  int done = 0;
  while (done < n) {
    int r = sendmmsg(b->fd, msg + done, n - done, MSG_DONTWAIT);
    if (r > 0) {
      done += r;
      b->sent += r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      break;
    } else {
      /* This datagram failed on its own (unreachable, refused by a firewall): drop it, go on. */
      done++;
      b->dropped++;
    }
  }
  return done;
}

static void flush_queue(batcher *b) {
  while (b->head) {
    int n = 0;
    queued *q = b->head;
    for (; q && n < MAX_BATCH; q = q->next, n++) {
      b->siov[n].iov_base = q->data;
      b->siov[n].iov_len = q->len;
      memset(&b->smsg[n].msg_hdr, 0, sizeof(struct msghdr));
      b->smsg[n].msg_hdr.msg_name = &q->addr;
      b->smsg[n].msg_hdr.msg_namelen = q->addr_len;
      b->smsg[n].msg_hdr.msg_iov = &b->siov[n];
      b->smsg[n].msg_hdr.msg_iovlen = 1;
    }
    int done = send_some(b, b->smsg, n);
    for (int i = 0; i < done; i++) {
      queued *first = b->head;
      b->head = first->next;
      b->queued_bytes -= first->len;
      free(first);
    }
    if (!b->head) b->tail = NULL;
    if (done < n) return; /* EAGAIN: wait for writable */
  }
}

static void call_js(batcher *b, int count) {
  napi_env env = b->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[1];
  napi_get_reference_value(env, b->refs[0], &fn);
  napi_get_global(env, &recv); /* napi_make_callback wants an object as `this` */
  napi_create_int32(env, count, &argv[0]);
  b->in_callback = 1;
  napi_status st = napi_make_callback(env, b->async, recv, fn, 1, argv, NULL);
  b->in_callback = 0;
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

/* Sends the replies JS wrote for datagrams [0, count). */
static void send_replies(batcher *b, int count) {
  int n = 0;
  for (int i = 0; i < count; i++) {
    int32_t off = b->meta[i * META_INTS + 1];
    int32_t len = b->meta[i * META_INTS + 2];
    if (len <= 0 || off < 0 || (size_t)off + (size_t)len > b->out_len) continue;
    b->siov[n].iov_base = b->out + off;
    b->siov[n].iov_len = (size_t)len;
    memset(&b->smsg[n].msg_hdr, 0, sizeof(struct msghdr));
    b->smsg[n].msg_hdr.msg_name = b->addr + (size_t)i * ADDR_BYTES;
    b->smsg[n].msg_hdr.msg_namelen = b->rmsg[i].msg_hdr.msg_namelen;
    b->smsg[n].msg_hdr.msg_iov = &b->siov[n];
    b->smsg[n].msg_hdr.msg_iovlen = 1;
    n++;
  }
  if (n == 0) return;
  int done = b->head ? 0 : send_some(b, b->smsg, n);
  for (int i = done; i < n; i++) enqueue(b, b->smsg[i].msg_hdr.msg_name, b->smsg[i].msg_hdr.msg_namelen, b->smsg[i].msg_hdr.msg_iov->iov_base, b->smsg[i].msg_hdr.msg_iov->iov_len);
}

static void read_batches(batcher *b) {
  for (int round = 0; round < MAX_ROUNDS && !b->closed && !b->head; round++) {
    for (int i = 0; i < b->batch; i++) {
      b->riov[i].iov_base = b->in + (size_t)i * b->slot;
      b->riov[i].iov_len = b->slot;
      memset(&b->rmsg[i].msg_hdr, 0, sizeof(struct msghdr));
      b->rmsg[i].msg_hdr.msg_name = b->addr + (size_t)i * ADDR_BYTES;
      b->rmsg[i].msg_hdr.msg_namelen = ADDR_BYTES;
      b->rmsg[i].msg_hdr.msg_iov = &b->riov[i];
      b->rmsg[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(b->fd, b->rmsg, (unsigned)b->batch, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      /* EAGAIN: drained. Anything else (a queued ICMP error) is about an earlier send: read on next time. */
      return;
    }
    if (n == 0) return;
    b->received += n;
    for (int i = 0; i < n; i++) {
      int32_t *m = b->meta + i * META_INTS;
      m[0] = (int32_t)b->rmsg[i].msg_len;
      m[1] = 0;
      m[2] = 0;
      m[3] = b->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC ? 1 : 0;
    }
    call_js(b, n);
    if (b->closed) return;
    send_replies(b, n);
    if (n < b->batch) return;
  }
}

static void on_poll(uv_poll_t *poll, int status, int events) {
  batcher *b = poll->data;
  if (b->closed) return;
  if (b->head && (events & UV_WRITABLE || status < 0)) flush_queue(b);
  if (!b->head && (events & UV_READABLE || status < 0)) read_batches(b);
  if (!b->closed) start_poll(b);
}

static void free_batcher(uv_handle_t *h) {
  batcher *b = h->data;
  while (b->head) {
    queued *q = b->head;
    b->head = q->next;
    free(q);
  }
  free(b);
}

/* open(fd, in, addr, out, meta, slot, batch, onBatch) -> handle */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8) return throw_error(env, "open(fd, in, addr, out, meta, slot, batch, onBatch)");
  int32_t fd, slot, batch;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_error(env, "fd must be a file descriptor");
  if (napi_get_value_int32(env, argv[5], &slot) != napi_ok || slot <= 0) return throw_error(env, "slot must be positive");
  if (napi_get_value_int32(env, argv[6], &batch) != napi_ok || batch <= 0 || batch > MAX_BATCH) return throw_error(env, "batch out of range");
  napi_valuetype t;
  napi_typeof(env, argv[7], &t);
  if (t != napi_function) return throw_error(env, "onBatch must be a function");
  void *in, *addr, *out, *meta;
  size_t in_len, addr_len, out_len, meta_len;
  if (!buffer_arg(env, argv[1], &in, &in_len) || in_len < (size_t)slot * (size_t)batch) return throw_error(env, "in is too small");
  if (!buffer_arg(env, argv[2], &addr, &addr_len) || addr_len < (size_t)ADDR_BYTES * (size_t)batch) return throw_error(env, "addr is too small");
  if (!buffer_arg(env, argv[3], &out, &out_len)) return throw_error(env, "out must be a Buffer");
  if (!buffer_arg(env, argv[4], &meta, &meta_len) || meta_len < sizeof(int32_t) * META_INTS * (size_t)batch) return throw_error(env, "meta is too small");

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_error(env, "no event loop");
  batcher *b = calloc(1, sizeof(batcher));
  if (!b) return throw_error(env, "out of memory");
  /* A descriptor of our own: node keeps (and closes) its own, which it no longer reads. */
  b->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (b->fd < 0) {
    free(b);
    return throw_error(env, "dup of the socket failed");
  }
  b->env = env;
  b->slot = (size_t)slot;
  b->batch = batch;
  b->in = in;
  b->addr = addr;
  b->out = out;
  b->out_len = out_len;
  b->meta = meta;
  napi_value args[5] = {argv[7], argv[1], argv[2], argv[3], argv[4]};
  for (int i = 0; i < 5; i++) napi_create_reference(env, args[i], 1, &b->refs[i]);
  napi_value name;
  napi_create_string_utf8(env, "pharos:udpbatch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &b->async);
  if (uv_poll_init(loop, &b->poll, b->fd) != 0) {
    for (int i = 0; i < 5; i++) napi_delete_reference(env, b->refs[i]);
    napi_async_destroy(env, b->async);
    close(b->fd);
    free(b);
    return throw_error(env, "uv_poll_init failed");
  }
  b->poll.data = b;
  start_poll(b);
  napi_value handle;
  napi_create_external(env, b, NULL, NULL, &handle);
  return handle;
}

/* sendTo(handle, data, addr): one reply outside a batch (an asynchronous answer, or one too big
 * for `out`). addr is the ADDR_BYTES the datagram's sender had in `addr`. Returns false when it
 * was dropped. */
static napi_value js_send_to(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  batcher *b = argc >= 3 ? handle_arg(env, argv[0]) : NULL;
  void *data, *addr;
  size_t len, addr_len;
  if (!b || !buffer_arg(env, argv[1], &data, &len) || !buffer_arg(env, argv[2], &addr, &addr_len) || addr_len < sizeof(sa_family_t))
    return throw_error(env, "sendTo(handle, data, addr)");
  napi_value result;
  if (b->closed) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  socklen_t alen = ((struct sockaddr *)addr)->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (addr_len < alen) return throw_error(env, "addr is too short");
  bool ok = true;
  if (b->head) {
    enqueue(b, addr, alen, data, len);
  } else {
    ssize_t r;
    do r = sendto(b->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)addr, alen);
    while (r < 0 && errno == EINTR);
    if (r >= 0) b->sent++;
    else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      enqueue(b, addr, alen, data, len);
      if (!b->in_callback) start_poll(b);
    } else {
      b->dropped++;
      ok = false;
    }
  }
  napi_get_boolean(env, ok, &result);
  return result;
}

/* peer(handle, i) -> "address" of datagram i's sender, as node's dgram writes it (inet_ntop). */
static napi_value js_peer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  batcher *b = argc >= 2 ? handle_arg(env, argv[0]) : NULL;
  int32_t i;
  if (!b || napi_get_value_int32(env, argv[1], &i) != napi_ok || i < 0 || i >= b->batch) return throw_error(env, "peer(handle, i)");
  char text[INET6_ADDRSTRLEN] = "";
  struct sockaddr *sa = (struct sockaddr *)(b->addr + (size_t)i * ADDR_BYTES);
  if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
  else if (sa->sa_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof text);
  napi_value result;
  napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &result);
  return result;
}

/* stats(handle) -> [received, sent, dropped, queued bytes] */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  batcher *b = argc >= 1 ? handle_arg(env, argv[0]) : NULL;
  if (!b) return throw_error(env, "stats(handle)");
  napi_value arr, v;
  napi_create_array_with_length(env, 4, &arr);
  double values[4] = {b->received, b->sent, b->dropped, (double)b->queued_bytes};
  for (int i = 0; i < 4; i++) {
    napi_create_double(env, values[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

/* close(handle): stops reading, drops unsent replies, closes our descriptor (node closes its own). Repeatable. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  batcher *b = argc >= 1 ? handle_arg(env, argv[0]) : NULL;
  if (!b) return throw_error(env, "close(handle)");
  if (!b->closed) {
    b->closed = 1;
    uv_poll_stop(&b->poll);
    for (int i = 0; i < 5; i++) napi_delete_reference(env, b->refs[i]);
    napi_async_destroy(env, b->async);
    close(b->fd);
    /* Freed once libuv is done with the poll handle; the JS handle must not be used after close. */
    uv_close((uv_handle_t *)&b->poll, free_batcher);
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"sendTo", NULL, js_send_to, NULL, NULL, NULL, napi_default, NULL},
      {"peer", NULL, js_peer, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_int32(env, MAX_BATCH, &v);
  napi_set_named_property(env, exports, "MAX_BATCH", v);
  napi_create_int32(env, ADDR_BYTES, &v);
  napi_set_named_property(env, exports, "ADDR_BYTES", v);
  napi_create_int32(env, META_INTS, &v);
  napi_set_named_property(env, exports, "META_INTS", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
