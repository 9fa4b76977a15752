// The store's per-segment work of an upload (issue #11), on libuv's thread pool: the running
// hash of the plaintext (the convergent key: BLAKE3, or SHA-256 in stores made before lafsd
// used BLAKE3; see src/grid/embedded/db.ts), AES-256-GCM sealing in place, and the write of
// ciphertext ‖ tag to the upload's temporary file. It replaces a worker thread whose V8 isolate
// alone cost ~10 MiB of resident memory, and the structured-clone messages and dead ciphertext
// Buffers that came with it (bench/README.md). OpenSSL is the one Node.js itself links, through
// the headers node-gyp provides.
//
// Segments of one upload may run on several pool threads at once: only the hash must see them
// in order, so each waits for its predecessor's hash (libuv's queue is first in, first out, so
// the predecessor is already running), then seals and writes in parallel with the others. A
// finished hash wakes only the thread waiting for it (one condition variable per turn, below):
// waking them all made every hash a herd of wake-ups and lock contention (bench/README.md,
// thirteenth session).
//
// Reading runs the other way, on the same pool (`open`): one pread of a run of segments, each
// verified and decrypted in place, so the event loop only sends what comes back.
//
// JavaScript side: src/grid/embedded/sealer.ts (writing) and objects.ts (reading). The writer
// never has a segment in flight when it asks for the digest, the seal or the abort.
#define _GNU_SOURCE /* SCHED_BATCH */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <uv.h>

#include "blake3/blake3.h"

#define KEY_SIZE 32
#define NONCE_SIZE 12
#define TAG_SIZE 16
#define DIGEST_SIZE 32
/*
 * The content hashes an upload can run (begin()'s third argument). BLAKE3 is the default of new
 * stores: 133 ms per GiB on one core here (AVX-512) against SHA-256's 555 with SHA-NI, and the
 * hash is the one part of an upload that runs in order (bench/README.md, fifteenth session).
 */
typedef enum { HASH_SHA256 = 0, HASH_BLAKE3 = 1 } HashKind;
/* Largest input of the synchronous blake3(): small objects are less than one segment. */
#define BLAKE3_SYNC_MAX (1u << 20)
/*
 * Bytes written between background flushes: the file must be on disk when the client closes it,
 * and flushing as the bytes arrive leaves little for the final fsync (a 1 GiB close stays fast).
 * A flush is a job of its own that nothing waits for: segments go on being written meanwhile,
 * and an upload whose bytes turn out to be stored already is dropped without waiting for it.
 */
#define FLUSH_EVERY (32u * 1024u * 1024u)
/*
 * Condition variables a hash's waiters are spread over, by sequence number: a segment waits on
 * turn[seq % TURNS] and a finished hash wakes turn[next % TURNS] only. More than TURNS segments
 * of one upload in flight at once (more pool threads than that) only share one, and each woken
 * thread checks its turn again.
 */
#define TURNS 16

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t turn[TURNS];
  /*
   * Held around a segment's write: the kernel serializes writes to one file anyway (the inode's
   * lock), and a second writer spins on that lock for the whole copy of the first; here it sleeps.
   */
  pthread_mutex_t write_lock;
  HashKind hash_kind;
  EVP_MD_CTX *md;       /* HASH_SHA256 */
  blake3_hasher blake3; /* HASH_BLAKE3 */
  unsigned char key[KEY_SIZE];
  char *path;
  int fd; /* -1 until the first write opens the file */
  /* Sequence number of the next segment to hash; segments get theirs when submitted. */
  uint64_t next_hash;
  uint64_t submitted; /* main thread only */
  uint64_t unflushed;
  int flushing;         /* background flushes running */
  int close_when_flushed; /* the file is done with: the last flush closes it */
  int flush_fd;         /* the descriptor the flushes use (fd may be -1 already) */
  int poisoned; /* a submitted segment was never queued: nobody waits for the hash again */
  /* The first failure (errno and the call); later segments are dropped and it is repeated. */
  int err;
  const char *syscall;
} Upload;

typedef enum { OP_SEGMENT, OP_SEAL, OP_ABORT, OP_FLUSH } Op;

typedef struct {
  Op op;
  Upload *upload;
  napi_ref upload_ref;
  napi_ref buffer_ref;
  napi_ref callback;
  napi_async_work work;
  unsigned char *data;
  size_t length;
  unsigned char nonce[NONCE_SIZE];
  int64_t position;
  uint64_t seq;
  int flush_due; /* this segment crossed FLUSH_EVERY: complete() queues a flush */
  int err;
  const char *syscall;
} Job;

#define CHECK(env, call)                                  \
  do {                                                    \
    if ((call) != napi_ok) return throw_last(env, #call); \
  } while (0)

static napi_value throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, info && info->error_message ? info->error_message : what);
  return NULL;
}

static bool is_function(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_function;
}

static void fail(Upload *u, int err, const char *syscall) {
  pthread_mutex_lock(&u->lock);
  if (!u->err) {
    u->err = err;
    u->syscall = syscall;
  }
  pthread_mutex_unlock(&u->lock);
}

/* Opens the temporary file on first use; 0 or an errno. Caller holds no lock. */
static int ensure_open(Upload *u) {
  pthread_mutex_lock(&u->lock);
  int err = 0;
  if (u->fd < 0) {
    u->fd = open(u->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (u->fd < 0) err = errno;
  }
  pthread_mutex_unlock(&u->lock);
  return err;
}

/* Writes both parts at `position`, finishing short writes (a full disk is an ENOSPC). */
static int write_all(int fd, unsigned char *a, size_t alen, unsigned char *b, size_t blen, int64_t position) {
  struct iovec iov[2] = {{a, alen}, {b, blen}};
  int count = blen ? 2 : 1;
  struct iovec *at = iov;
  while (count > 0) {
    ssize_t done = pwritev(fd, at, count, (off_t)position);
    if (done < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (done == 0) return EIO;
    position += done;
    while (count > 0 && (size_t)done >= at->iov_len) {
      done -= (ssize_t)at->iov_len;
      at++;
      count--;
    }
    if (count > 0) {
      at->iov_base = (unsigned char *)at->iov_base + done;
      at->iov_len -= (size_t)done;
    }
  }
  return 0;
}

/*
 * AES-256-GCM, fetched from OpenSSL once: OpenSSL 3 fetches the algorithm at every init that
 * names it by EVP_aes_256_gcm(), and Node's createCipheriv does too (4.2-14.7 µs a value of 32
 * bytes to 4 KiB here, against 1.4-5.9 for the addon's synchronous calls below).
 */
static EVP_CIPHER *gcm_cipher;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;
static void fetch_gcm(void) { gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL); }
static const EVP_CIPHER *gcm_algorithm(void) {
  pthread_once(&gcm_once, fetch_gcm);
  return gcm_cipher;
}

typedef enum { GCM_OPEN = 0, GCM_SEAL = 1 } GcmDirection;

/*
 * The one AES-256-GCM of the addon: `length` bytes of `in` to `out` (the same buffer in place),
 * bound to `aad` (may be empty). Sealing writes the tag, opening checks it. 0, ENOMEM, or EIO
 * (OpenSSL failed, or the tag did not match). Lengths are at most 1 MiB, far below int's range.
 */
static int gcm(GcmDirection direction, const unsigned char *key, const unsigned char *nonce, const unsigned char *aad,
               size_t aad_length, const unsigned char *in, unsigned char *out, size_t length, unsigned char *tag) {
  const EVP_CIPHER *cipher = gcm_algorithm();
  if (!cipher) return EIO;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return ENOMEM;
  int n = 0;
  int ok = EVP_CipherInit_ex2(ctx, cipher, key, nonce, direction, NULL) == 1;  // 12-byte IV: GCM's default
  ok = ok && (aad_length == 0 || EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_length) == 1);
  ok = ok && EVP_CipherUpdate(ctx, out, &n, in, (int)length) == 1;
  if (direction == GCM_OPEN) ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, tag) == 1;
  int fin = 0;
  ok = ok && EVP_CipherFinal_ex(ctx, out + n, &fin) == 1;  // GCM: no bytes held back; opening checks the tag
  if (direction == GCM_SEAL) ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, tag) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok ? 0 : EIO;
}

static void do_segment(Job *j) {
  Upload *u = j->upload;
  pthread_mutex_lock(&u->lock);
  while (u->next_hash != j->seq && !u->poisoned) pthread_cond_wait(&u->turn[j->seq % TURNS], &u->lock);
  pthread_mutex_unlock(&u->lock);
  // Only this thread touches the hash until next_hash moves on (the lock orders the updates).
  int hashed = 1;
  if (u->hash_kind == HASH_BLAKE3) blake3_hasher_update(&u->blake3, j->data, j->length);
  else hashed = EVP_DigestUpdate(u->md, j->data, j->length) == 1;
  pthread_mutex_lock(&u->lock);
  u->next_hash++;
  pthread_cond_broadcast(&u->turn[u->next_hash % TURNS]);
  int failed = u->err;
  pthread_mutex_unlock(&u->lock);
  if (!hashed) return fail(u, EIO, "sha256");  // only OpenSSL's hash can fail
  if (failed) return;

  unsigned char tag[TAG_SIZE];
  int err = gcm(GCM_SEAL, u->key, j->nonce, NULL, 0, j->data, j->data, j->length, tag);
  if (err) return fail(u, err, "aes-256-gcm");
  if ((err = ensure_open(u))) return fail(u, err, "open");
  pthread_mutex_lock(&u->write_lock);
  err = write_all(u->fd, j->data, j->length, tag, TAG_SIZE, j->position);
  pthread_mutex_unlock(&u->write_lock);
  if (err) return fail(u, err, "write");

  pthread_mutex_lock(&u->lock);
  u->unflushed += j->length + TAG_SIZE;
  j->flush_due = u->unflushed >= FLUSH_EVERY;
  if (j->flush_due) u->unflushed = 0;
  pthread_mutex_unlock(&u->lock);
}

/* Closes the file now, or leaves that to the last background flush still using it. */
static int release_fd(Upload *u) {
  pthread_mutex_lock(&u->lock);
  int fd = u->fd, err = 0;
  u->fd = -1;
  if (fd >= 0 && u->flushing > 0) {
    u->close_when_flushed = 1;
    fd = -1;
  }
  pthread_mutex_unlock(&u->lock);
  if (fd >= 0 && close(fd) != 0) err = errno;
  return err;
}

static void do_flush(Job *j) {
  Upload *u = j->upload;
  // A failure here shows up again in the final fsync, which is the one that counts.
  (void)fdatasync(u->flush_fd);
  pthread_mutex_lock(&u->lock);
  int last = --u->flushing == 0 && u->close_when_flushed;
  if (last) u->close_when_flushed = 0;
  pthread_mutex_unlock(&u->lock);
  if (last) (void)close(u->flush_fd);
}

/* The header goes in last, then the file is made durable: only a complete object is published. */
static void do_seal(Job *j) {
  Upload *u = j->upload;
  if (u->err) return;
  int err = ensure_open(u);
  if (err) return fail(u, err, "open");
  if ((err = write_all(u->fd, j->data, j->length, NULL, 0, 0))) return fail(u, err, "write");
  if (fsync(u->fd) != 0) return fail(u, errno, "fsync");
  if ((err = release_fd(u))) return fail(u, err, "close");
}

static void do_abort(Job *j) {
  Upload *u = j->upload;
  (void)release_fd(u);  // nothing left to do with a descriptor that will not close
  if (unlink(u->path) != 0 && errno != ENOENT) {
    j->err = errno;
    j->syscall = "unlink";
  }
}

/*
 * A pool thread that runs this addon's work stops preempting the event loop when it is woken.
 * Every segment handed over wakes a pool thread, and on 2 busy cores the woken thread took the
 * CPU from the event loop at once: in a 1 GiB SFTP upload the event loop was switched out 4,714
 * times inside segment() per 2 GiB, half a second per GiB it did not spend decrypting SSH
 * packets. SCHED_BATCH keeps the thread's fair share (same weight as nice 0) and only gives up
 * preemption at wake-up; the same uploads then switched out 307 times, and ran 3-16% faster on
 * 6-15% less CPU (bench/README.md, fifteenth session). The thread stays so for the rest of its
 * life, whatever it runs later for Node (file system calls, password hashes): none of that
 * needs to interrupt the event loop either. Linux only; elsewhere nothing changes.
 */
static void stop_preempting_the_event_loop(void) {
#ifdef SCHED_BATCH
  static __thread int done;
  if (done) return;
  done = 1;
  struct sched_param none = {0};
  (void)sched_setscheduler(0, SCHED_BATCH, &none);  // a failure (a sandbox) only costs speed
#endif
}

static void execute(napi_env env, void *data) {
  (void)env;
  Job *j = data;
  stop_preempting_the_event_loop();
  switch (j->op) {
    case OP_SEGMENT: do_segment(j); break;
    case OP_SEAL: do_seal(j); break;
    case OP_ABORT: do_abort(j); break;
    case OP_FLUSH: do_flush(j); return;
  }
  if (j->op != OP_ABORT) {
    pthread_mutex_lock(&j->upload->lock);
    j->err = j->upload->err;
    j->syscall = j->upload->syscall;
    pthread_mutex_unlock(&j->upload->lock);
  }
}

/* An Error like Node's own for a failed system call: code "ENOSPC", message "ENOSPC: no space left on device, write". */
static napi_value errno_error(napi_env env, int err, const char *syscall) {
  char message[256];
  const char *name = uv_err_name(-err);
  snprintf(message, sizeof message, "%s: %s, %s", name, uv_strerror(-err), syscall ? syscall : "seal");
  napi_value msg, code, error, call;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok) return NULL;
  if (napi_create_error(env, code, msg, &error) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, syscall ? syscall : "seal", NAPI_AUTO_LENGTH, &call) == napi_ok) napi_set_named_property(env, error, "syscall", call);
  return error;
}

/* A callback's first argument: null, or the job's failure as an Error. */
static napi_value failure_arg(napi_env env, napi_status status, int err, const char *syscall, const char *cancelled) {
  napi_value arg = NULL, msg;
  if (status != napi_ok) {
    if (napi_create_string_utf8(env, cancelled, NAPI_AUTO_LENGTH, &msg) == napi_ok) napi_create_error(env, NULL, msg, &arg);
  } else if (err) {
    arg = errno_error(env, err, syscall);
  }
  if (!arg) napi_get_null(env, &arg);
  return arg;
}

/* The value `ref` holds; the reference is deleted (the value stays valid in this handle scope). */
static napi_value take_ref(napi_env env, napi_ref ref) {
  napi_value value = NULL;
  napi_get_reference_value(env, ref, &value);
  napi_delete_reference(env, ref);
  return value;
}

static void call_back(napi_env env, napi_value callback, size_t argc, napi_value *argv) {
  napi_value global;
  napi_get_global(env, &global);
  // An exception thrown by the callback is the caller's; Node reports it as uncaught.
  napi_call_function(env, global, callback, argc, argv, NULL);
}

/* Queues `data` on libuv's pool as `name`; on failure nothing is queued and *work is NULL. */
static napi_status start_work(napi_env env, const char *name, napi_async_execute_callback execute,
                              napi_async_complete_callback done, void *data, napi_async_work *work) {
  napi_value resource;
  napi_status s = napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  if (s == napi_ok) s = napi_create_async_work(env, NULL, resource, execute, done, data, work);
  if (s == napi_ok) s = napi_queue_async_work(env, *work);
  if (s != napi_ok && *work) {
    napi_delete_async_work(env, *work);
    *work = NULL;
  }
  return s;
}

static void complete(napi_env env, napi_status status, void *data);

/*
 * Starts a background flush of the segment's file, holding the upload alive until it is done.
 * Should it fail to start, the final fsync still makes the file durable: it is only later.
 */
static void queue_flush(napi_env env, Job *segment) {
  Upload *u = segment->upload;
  Job *f = calloc(1, sizeof *f);
  napi_value upload;
  if (!f) return;
  f->op = OP_FLUSH;
  f->upload = u;
  pthread_mutex_lock(&u->lock);
  int fd = u->fd;
  if (fd >= 0) {
    u->flushing++;
    u->flush_fd = fd;
  }
  pthread_mutex_unlock(&u->lock);
  if (fd >= 0 && napi_get_reference_value(env, segment->upload_ref, &upload) == napi_ok &&
      napi_create_reference(env, upload, 1, &f->upload_ref) == napi_ok &&
      start_work(env, "lafsd:flush", execute, complete, f, &f->work) == napi_ok)
    return;
  if (fd >= 0) {
    pthread_mutex_lock(&u->lock);
    u->flushing--;  // not started; nothing can be waiting for it to close the file yet
    pthread_mutex_unlock(&u->lock);
  }
  if (f->upload_ref) napi_delete_reference(env, f->upload_ref);
  free(f);
}

static void complete(napi_env env, napi_status status, void *data) {
  Job *j = data;
  if (j->op == OP_FLUSH) {
    napi_delete_reference(env, j->upload_ref);
    napi_delete_async_work(env, j->work);
    free(j);
    return;
  }
  if (status == napi_ok && j->flush_due && !j->err) queue_flush(env, j);
  napi_value arg = failure_arg(env, status, j->err, j->syscall, "the sealing job was cancelled");
  napi_value callback = take_ref(env, j->callback);
  napi_delete_reference(env, j->upload_ref);
  if (j->buffer_ref) napi_delete_reference(env, j->buffer_ref);
  napi_delete_async_work(env, j->work);
  free(j);
  call_back(env, callback, 1, &arg);
}

static void finalize_upload(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Upload *u = data;
  if (u->fd >= 0) close(u->fd);  // an upload dropped without seal or abort: no descriptor leaks
  OPENSSL_cleanse(u->key, KEY_SIZE);
  EVP_MD_CTX_free(u->md);  // NULL for BLAKE3: a no-op
  free(u->path);
  pthread_mutex_destroy(&u->lock);
  pthread_mutex_destroy(&u->write_lock);
  for (int t = 0; t < TURNS; t++) pthread_cond_destroy(&u->turn[t]);
  free(u);
}

static Upload *get_upload(napi_env env, napi_value value) {
  Upload *u = NULL;
  if (napi_unwrap(env, value, (void **)&u) != napi_ok || !u) {
    napi_throw_type_error(env, NULL, "not an upload");
    return NULL;
  }
  return u;
}

/*
 * A run's state between the pool and the main thread. The run is the segments from `first` that
 * hold `plain_length` bytes, at `position`: each is ciphertext ‖ tag, `segment_size` bytes of
 * plaintext but the last.
 */
typedef struct {
  napi_ref buffer_ref;
  napi_ref callback;
  napi_async_work work;
  unsigned char *data; /* sealedLength bytes; plaintext at its start afterwards */
  size_t sealed_length;
  size_t plain_length;
  int fd;
  int64_t position;
  uint32_t first;
  size_t segment_size; /* layout.ts's SEGMENT_SIZE, passed in */
  unsigned char key[KEY_SIZE];
  int err;    /* errno of a failed pread */
  int status; /* OPEN_OK, OPEN_TRUNCATED or OPEN_FORGED */
} OpenJob;

enum { OPEN_OK = 0, OPEN_TRUNCATED = 1, OPEN_FORGED = 2 };

static int open_in_place(const unsigned char *key, uint32_t index, unsigned char *data, size_t length, unsigned char *tag) {
  unsigned char nonce[NONCE_SIZE] = {0};
  // layout.ts's segmentNonce: the index as a 64-bit big-endian number after four zero bytes.
  for (int b = 0; b < 8; b++) nonce[NONCE_SIZE - 1 - b] = (unsigned char)((uint64_t)index >> (8 * b));
  return gcm(GCM_OPEN, key, nonce, NULL, 0, data, data, length, tag) == 0 ? 0 : -1;
}

static void open_execute(napi_env env, void *data) {
  (void)env;
  OpenJob *j = data;
  stop_preempting_the_event_loop();
  for (size_t done = 0; done < j->sealed_length;) {
    ssize_t n = pread(j->fd, j->data + done, j->sealed_length - done, (off_t)(j->position + (int64_t)done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      j->err = errno;
      return;
    }
    if (n == 0) {
      j->status = OPEN_TRUNCATED;
      return;
    }
    done += (size_t)n;
  }
  // Segment k's ciphertext is at k × (segment size + TAG), its plaintext goes to k × segment size:
  // decrypted in place, then moved down over bytes already used (never over unread ones).
  size_t from = 0, to = 0;
  for (uint32_t index = j->first; to < j->plain_length; index++) {
    size_t length = j->plain_length - to < j->segment_size ? j->plain_length - to : j->segment_size;
    unsigned char tag[TAG_SIZE];
    memcpy(tag, j->data + from + length, TAG_SIZE);
    if (open_in_place(j->key, index, j->data + from, length, tag) != 0) {
      j->status = OPEN_FORGED;
      return;
    }
    if (to != from) memmove(j->data + to, j->data + from, length);
    from += length + TAG_SIZE;
    to += length;
  }
}

static void open_complete(napi_env env, napi_status status, void *data) {
  OpenJob *j = data;
  napi_value argv[2];
  argv[0] = failure_arg(env, status, j->err, "read", "the read was cancelled");
  napi_create_int32(env, j->status, &argv[1]);
  napi_value callback = take_ref(env, j->callback);
  napi_delete_reference(env, j->buffer_ref);
  napi_delete_async_work(env, j->work);
  OPENSSL_cleanse(j->key, KEY_SIZE);
  free(j);
  call_back(env, callback, 2, argv);
}

/*
 * open(fd, key: Buffer(32), first, plainLength, position, segmentSize, buffer, callback(err, status)): reads
 * buffer.length bytes (the run's sealed length) at `position` from `fd`, verifies and decrypts
 * its segments, and leaves their plainLength bytes of plaintext at the buffer's start. status:
 * 0 done, 1 the file ends early, 2 a segment failed its tag (damaged or forged). The descriptor
 * must stay open until the callback.
 */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  uint32_t first = 0, segment = 0;
  int64_t plain = 0, position = 0;
  void *key = NULL, *data = NULL;
  size_t key_len = 0, size = 0;
  if (argc < 8 || !is_function(env, argv[7]) || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_buffer_info(env, argv[1], &key, &key_len) != napi_ok || key_len != KEY_SIZE ||
      napi_get_value_uint32(env, argv[2], &first) != napi_ok || napi_get_value_int64(env, argv[3], &plain) != napi_ok ||
      napi_get_value_int64(env, argv[4], &position) != napi_ok || position < 0 ||
      napi_get_value_uint32(env, argv[5], &segment) != napi_ok || segment == 0 || segment > (1u << 30) ||
      napi_get_buffer_info(env, argv[6], &data, &size) != napi_ok || plain <= 0 || (uint64_t)plain > size ||
      size - (uint64_t)plain != ((uint64_t)plain + segment - 1) / segment * TAG_SIZE) {
    // The buffer holds exactly the run: every segment's bytes and its tag.
    napi_throw_type_error(env, NULL, "open(fd, key, first, plainLength, position, segmentSize, buffer, callback)");
    return NULL;
  }
  OpenJob *j = calloc(1, sizeof *j);
  if (!j) return throw_last(env, "out of memory");
  j->fd = fd;
  memcpy(j->key, key, KEY_SIZE);
  j->first = first;
  j->segment_size = segment;
  j->plain_length = (size_t)plain;
  j->position = position;
  j->data = data;
  j->sealed_length = size;
  napi_status s = napi_create_reference(env, argv[6], 1, &j->buffer_ref);
  if (s == napi_ok) s = napi_create_reference(env, argv[7], 1, &j->callback);
  if (s == napi_ok) s = start_work(env, "lafsd:open", open_execute, open_complete, j, &j->work);
  if (s == napi_ok) return NULL;
  if (j->buffer_ref) napi_delete_reference(env, j->buffer_ref);
  if (j->callback) napi_delete_reference(env, j->callback);
  OPENSSL_cleanse(j->key, KEY_SIZE);
  free(j);
  return throw_last(env, "cannot queue a read");
}

/* The hash kind named by a string argument ("blake3" or "sha256"), or -1. */
static int hash_kind_of(napi_env env, napi_value value) {
  char name[8];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, name, sizeof name, &len) != napi_ok) return -1;
  if (strcmp(name, "blake3") == 0) return HASH_BLAKE3;
  if (strcmp(name, "sha256") == 0) return HASH_SHA256;
  return -1;
}

/* begin(path: string, key: Buffer(32), hash: "blake3" | "sha256") -> upload */
static napi_value Begin(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], upload;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t path_len = 0, key_len = 0;
  void *key = NULL;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], NULL, 0, &path_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "begin(path, key, hash)");
    return NULL;
  }
  if (napi_get_buffer_info(env, argv[1], &key, &key_len) != napi_ok || key_len != KEY_SIZE) {
    napi_throw_type_error(env, NULL, "the key must be a 32-byte Buffer");
    return NULL;
  }
  int kind = hash_kind_of(env, argv[2]);
  if (kind < 0) {
    napi_throw_type_error(env, NULL, "the hash must be \"blake3\" or \"sha256\"");
    return NULL;
  }
  Upload *u = calloc(1, sizeof *u);
  if (!u) return throw_last(env, "out of memory");
  u->path = malloc(path_len + 1);
  u->hash_kind = kind;
  if (kind == HASH_BLAKE3) blake3_hasher_init(&u->blake3);
  else u->md = EVP_MD_CTX_new();
  if (!u->path || (kind == HASH_SHA256 && (!u->md || EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1))) {
    free(u->path);
    EVP_MD_CTX_free(u->md);
    free(u);
    napi_throw_error(env, NULL, "cannot start an upload's hash");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], u->path, path_len + 1, &path_len);
  memcpy(u->key, key, KEY_SIZE);
  u->fd = -1;
  pthread_mutex_init(&u->lock, NULL);
  pthread_mutex_init(&u->write_lock, NULL);
  for (int t = 0; t < TURNS; t++) pthread_cond_init(&u->turn[t], NULL);
  if (napi_create_object(env, &upload) != napi_ok || napi_wrap(env, upload, u, finalize_upload, NULL, NULL) != napi_ok) {
    finalize_upload(env, u, NULL);
    return throw_last(env, "napi_wrap");
  }
  return upload;
}

static napi_value queue(napi_env env, Job *j, napi_value upload, napi_value buffer, napi_value callback) {
  napi_status s = napi_create_reference(env, upload, 1, &j->upload_ref);
  if (s == napi_ok && buffer) s = napi_create_reference(env, buffer, 1, &j->buffer_ref);
  if (s == napi_ok) s = napi_create_reference(env, callback, 1, &j->callback);
  if (s == napi_ok) s = start_work(env, "lafsd:seal", execute, complete, j, &j->work);
  if (s == napi_ok) return NULL;
  if (j->op == OP_SEGMENT) {
    // Its sequence number was taken: release whoever waits for it, and fail the upload.
    pthread_mutex_lock(&j->upload->lock);
    j->upload->poisoned = 1;
    for (int t = 0; t < TURNS; t++) pthread_cond_broadcast(&j->upload->turn[t]);
    pthread_mutex_unlock(&j->upload->lock);
    fail(j->upload, EIO, "queue");
  }
  if (j->upload_ref) napi_delete_reference(env, j->upload_ref);
  if (j->buffer_ref) napi_delete_reference(env, j->buffer_ref);
  if (j->callback) napi_delete_reference(env, j->callback);
  free(j);
  return throw_last(env, "cannot queue a sealing job");
}

static Job *new_job(napi_env env, Op op, Upload *u) {
  Job *j = calloc(1, sizeof *j);
  if (!j) napi_throw_error(env, NULL, "out of memory");
  else {
    j->op = op;
    j->upload = u;
  }
  return j;
}

/*
 * A call's `argc` arguments (an upload first, a callback last) and its upload; NULL once a
 * TypeError naming `usage` is thrown.
 */
static Upload *upload_call(napi_env env, napi_callback_info info, size_t argc, napi_value *argv, const char *usage) {
  size_t got = argc;
  if (napi_get_cb_info(env, info, &got, argv, NULL, NULL) != napi_ok) {
    throw_last(env, "napi_get_cb_info");
    return NULL;
  }
  if (got < argc || !is_function(env, argv[argc - 1])) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  return get_upload(env, argv[0]);
}

/*
 * segment(upload, buffer, length, nonce: Buffer(12), position, callback(err)): hashes the first
 * `length` bytes of `buffer`, seals them in place and writes ciphertext ‖ tag at `position`.
 * The buffer holds ciphertext afterwards and must not be touched until the callback.
 */
static napi_value Segment(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  Upload *u = upload_call(env, info, 6, argv, "segment(upload, buffer, length, nonce, position, callback)");
  if (!u) return NULL;
  void *data = NULL, *nonce = NULL;
  size_t size = 0, nonce_len = 0;
  uint32_t length = 0;
  int64_t position = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &size) != napi_ok || napi_get_value_uint32(env, argv[2], &length) != napi_ok ||
      length > size || length > (1u << 30) || napi_get_buffer_info(env, argv[3], &nonce, &nonce_len) != napi_ok ||
      nonce_len != NONCE_SIZE || napi_get_value_int64(env, argv[4], &position) != napi_ok || position < 0) {
    napi_throw_type_error(env, NULL, "segment: bad buffer, length, nonce or position");
    return NULL;
  }
  Job *j = new_job(env, OP_SEGMENT, u);
  if (!j) return NULL;
  j->data = data;
  j->length = length;
  memcpy(j->nonce, nonce, NONCE_SIZE);
  j->position = position;
  j->seq = u->submitted++;
  return queue(env, j, argv[0], argv[1], argv[5]);
}

/* digest(upload) -> Buffer(32): the hash of every segment's plaintext, in order. Once. */
static napi_value Digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Upload *u = argc == 1 ? get_upload(env, argv[0]) : NULL;
  if (!u) return NULL;
  void *out = NULL;
  CHECK(env, napi_create_buffer(env, DIGEST_SIZE, &out, &result));
  if (u->hash_kind == HASH_BLAKE3) {
    blake3_hasher_finalize(&u->blake3, out, DIGEST_SIZE);
    return result;
  }
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(u->md, out, &len) != 1 || len != DIGEST_SIZE) {
    napi_throw_error(env, NULL, "cannot finish the upload's hash");
    return NULL;
  }
  return result;
}

/*
 * blake3(data: Buffer) -> Buffer(32), on the calling thread: for the store's small objects
 * (less than one 128 KiB segment: ~17 µs here), which never reach the pool.
 */
static napi_value Blake3(napi_env env, napi_callback_info info) {
  size_t argc = 1, length = 0;
  napi_value argv[1], result;
  void *data = NULL, *out = NULL;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "blake3(data: Buffer)");
    return NULL;
  }
  if (length > BLAKE3_SYNC_MAX) {
    napi_throw_range_error(env, NULL, "blake3() hashes at most 1 MiB on the event loop");
    return NULL;
  }
  CHECK(env, napi_create_buffer(env, DIGEST_SIZE, &out, &result));
  blake3_hasher h;
  blake3_hasher_init(&h);
  blake3_hasher_update(&h, data, length);
  blake3_hasher_finalize(&h, out, DIGEST_SIZE);
  return result;
}

/*
 * AES-256-GCM of small values on the calling thread: directory entries, object headers and
 * small objects' one segment (at most GCM_SYNC_MAX).
 */
#define GCM_SYNC_MAX (1u << 20)

/* The buffers of gcmSeal(key, nonce, aad, input) and gcmOpen(...), checked; false after a throw. */
static bool gcm_args(napi_env env, napi_callback_info info, const char *usage, void **key, void **nonce, void **aad,
                     size_t *aad_len, void **input, size_t *input_len) {
  size_t argc = 4, key_len = 0, nonce_len = 0;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_buffer_info(env, argv[0], key, &key_len) != napi_ok ||
      napi_get_buffer_info(env, argv[1], nonce, &nonce_len) != napi_ok ||
      napi_get_buffer_info(env, argv[2], aad, aad_len) != napi_ok ||
      napi_get_buffer_info(env, argv[3], input, input_len) != napi_ok || key_len != KEY_SIZE || nonce_len != NONCE_SIZE) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  if (*input_len > GCM_SYNC_MAX || *aad_len > GCM_SYNC_MAX) {
    napi_throw_range_error(env, NULL, "AES-GCM on the event loop takes at most 1 MiB");
    return false;
  }
  if (!gcm_algorithm()) {
    napi_throw_error(env, NULL, "OpenSSL has no AES-256-GCM");
    return false;
  }
  return true;
}

/* gcmSeal(key(32), nonce(12), aad, plain) -> Buffer: ciphertext ‖ tag(16). */
static napi_value GcmSeal(napi_env env, napi_callback_info info) {
  void *key, *nonce, *aad, *plain, *out = NULL;
  size_t aad_len = 0, len = 0;
  if (!gcm_args(env, info, "gcmSeal(key: Buffer(32), nonce: Buffer(12), aad: Buffer, plain: Buffer)", &key, &nonce, &aad,
                &aad_len, &plain, &len))
    return NULL;
  napi_value result;
  CHECK(env, napi_create_buffer(env, len + TAG_SIZE, &out, &result));
  unsigned char *sealed = out;
  int err = gcm(GCM_SEAL, key, nonce, aad, aad_len, plain, sealed, len, sealed + len);
  if (err) {
    napi_throw_error(env, NULL, err == ENOMEM ? "out of memory for AES-GCM" : "AES-GCM sealing failed");
    return NULL;
  }
  return result;
}

/* gcmOpen(key(32), nonce(12), aad, sealed: ciphertext ‖ tag) -> Buffer, or undefined if the tag fails. */
static napi_value GcmOpen(napi_env env, napi_callback_info info) {
  void *key, *nonce, *aad, *sealed, *out = NULL;
  size_t aad_len = 0, len = 0;
  if (!gcm_args(env, info, "gcmOpen(key: Buffer(32), nonce: Buffer(12), aad: Buffer, sealed: Buffer)", &key, &nonce, &aad,
                &aad_len, &sealed, &len))
    return NULL;
  napi_value result;
  if (len < TAG_SIZE) {
    CHECK(env, napi_get_undefined(env, &result));
    return result;
  }
  len -= TAG_SIZE;
  CHECK(env, napi_create_buffer(env, len, &out, &result));
  unsigned char tag[TAG_SIZE];
  memcpy(tag, (unsigned char *)sealed + len, TAG_SIZE);
  if (gcm(GCM_OPEN, key, nonce, aad, aad_len, sealed, out, len, tag) != 0) {
    memset(out, 0, len); /* no unauthenticated plaintext left behind */
    CHECK(env, napi_get_undefined(env, &result));
  }
  return result;
}

/* seal(upload, header: Buffer, callback(err)): writes the header at 0, fsyncs and closes. */
static napi_value Seal(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Upload *u = upload_call(env, info, 3, argv, "seal(upload, header, callback)");
  if (!u) return NULL;
  void *data = NULL;
  size_t size = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &size) != napi_ok) {
    napi_throw_type_error(env, NULL, "seal: the header must be a Buffer");
    return NULL;
  }
  Job *j = new_job(env, OP_SEAL, u);
  if (!j) return NULL;
  j->data = data;
  j->length = size;
  return queue(env, j, argv[0], argv[1], argv[2]);
}

/* abort(upload, callback(err)): closes the file and removes it. */
static napi_value Abort(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Upload *u = upload_call(env, info, 2, argv, "abort(upload, callback)");
  if (!u) return NULL;
  Job *j = new_job(env, OP_ABORT, u);
  if (!j) return NULL;
  return queue(env, j, argv[0], NULL, argv[1]);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor fns[] = {
      {"begin", NULL, Begin, NULL, NULL, NULL, napi_default, NULL},
      {"segment", NULL, Segment, NULL, NULL, NULL, napi_default, NULL},
      {"digest", NULL, Digest, NULL, NULL, NULL, napi_default, NULL},
      {"blake3", NULL, Blake3, NULL, NULL, NULL, napi_default, NULL},
      {"seal", NULL, Seal, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, Abort, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
      {"gcmSeal", NULL, GcmSeal, NULL, NULL, NULL, napi_default, NULL},
      {"gcmOpen", NULL, GcmOpen, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  return exports;
}
